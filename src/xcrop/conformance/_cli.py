"""``python -m xcrop.conformance``: run the recorded TF fixtures on every backend.

Prints one row per backend (cases, bit-exact, within the documented bound, failed,
skipped, worst ulp) and exits non-zero if any case fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .._limitations import max_ulp
from ._adapters import ADAPTERS, Adapter, UnsupportedByBackend
from ._format import Case, default_fixture_dir, load_all
from ._runner import call_case, expected_exception, judge_exact, judge_fill


@dataclass
class Row:
    backend: str
    cases: int = 0
    exact: int = 0
    within_bound: int = 0
    failed: int = 0
    skipped: int = 0
    worst_ulp: int = 0
    seconds: float = 0.0
    skip_reason: str = ""
    failures: list[str] = field(default_factory=list)


def _run_case(case: Case, adapter: Adapter, row: Row) -> None:
    try:
        if case.check == "error":
            want = expected_exception(case)
            try:
                call_case(case, adapter.asarray)
            except want:
                row.exact += 1
                return
            except UnsupportedByBackend:
                raise
            except Exception as exc:  # wrong exception type
                row.failed += 1
                row.failures.append(f"{case.key}: raised {type(exc).__name__}, expected "
                                    f"{want.__name__}: {exc}")
                return
            row.failed += 1
            row.failures.append(f"{case.key}: no exception, expected {want.__name__}")
            return
        first = adapter.asarray(next(iter(case.inputs.values())))
        raw = call_case(case, adapter.asarray)
    except UnsupportedByBackend:
        row.skipped += 1
        return
    except Exception as exc:
        row.failed += 1
        row.failures.append(f"{case.key}: raised {type(exc).__name__}: {exc}")
        return
    problem = adapter.same_kind(raw, first)
    out = adapter.to_numpy(raw)
    if problem is None and case.check == "fill_stats":
        ok, problem = judge_fill(case, out)
        problem = None if ok else problem
        worst = 0
    elif problem is None:
        bound = max_ulp(adapter.library, adapter.device_kind, case.op)
        ok, worst, msg = judge_exact(out, np.asarray(case.expected), bound)
        problem = None if ok else msg
    if problem is not None:
        row.failed += 1
        row.failures.append(f"{case.key}: {problem}")
        return
    row.worst_ulp = max(row.worst_ulp, worst)
    if worst == 0:
        row.exact += 1
    else:
        row.within_bound += 1


def run(adapters: list[Adapter], cases: list[Case], progress: bool) -> list[Row]:
    rows = []
    for adapter in adapters:
        row = Row(adapter.name)
        reason = adapter.skip_reason()
        if reason:
            row.skip_reason = reason
            row.skipped = len(cases)
            rows.append(row)
            continue
        start = time.perf_counter()
        with adapter.active():
            for i, case in enumerate(cases, 1):
                row.cases += 1
                _run_case(case, adapter, row)
                if progress and (i % 50 == 0 or i == len(cases)):
                    print(f"\r{adapter.name:18s} {i}/{len(cases)}", end="", file=sys.stderr,
                          flush=True)
        row.seconds = time.perf_counter() - start
        if progress:
            print(file=sys.stderr)
        rows.append(row)
    return rows


def format_table(rows: list[Row]) -> str:
    head = ("backend", "cases", "bit-exact", "within bound", "failed", "skipped",
            "worst ulp", "time [s]")
    lines = [head]
    for r in rows:
        lines.append((r.backend, str(r.cases), str(r.exact), str(r.within_bound),
                      str(r.failed), str(r.skipped), str(r.worst_ulp), f"{r.seconds:.1f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for j, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(line, widths, strict=True))))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xcrop.conformance",
        description="Check xcrop against recorded TensorFlow 2.21 outputs on every backend.",
    )
    names = [a.name for a in ADAPTERS]
    parser.add_argument("--backend", action="append", choices=names,
                        help="backend to run (repeatable; default: all)")
    parser.add_argument("--suite", action="append", help="fixture suite (default: all)")
    parser.add_argument("--fixtures", type=Path, help="fixture directory")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)

    directory = args.fixtures or default_fixture_dir()
    cases = load_all(directory)
    if args.suite:
        cases = [c for c in cases if c.suite in set(args.suite)]
    if not cases:
        print("no conformance cases selected", file=sys.stderr)
        return 2
    adapters = [a for a in ADAPTERS if not args.backend or a.name in args.backend]
    rows = run(adapters, cases, progress=not args.quiet and sys.stderr.isatty())
    print(f"xcrop conformance: {len(cases)} TF cases from {directory}")
    print(format_table(rows))
    for r in rows:
        if r.skip_reason:
            print(f"note [{r.backend}] not run: {r.skip_reason}")
        for line in r.failures[:20]:
            print(f"FAIL [{r.backend}] {line}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    ran = [r for r in rows if r.cases]
    failed = sum(r.failed for r in rows)
    if failed or not ran:
        print(f"{failed} failure(s)" if failed else "no backend could run", file=sys.stderr)
        return 1
    return 0
