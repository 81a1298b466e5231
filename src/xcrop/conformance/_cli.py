"""``python -m xcrop.conformance`` (also ``xcrop conformance``): run the recorded TF
fixtures on every installed backend and every path, or through a third-party
implementation (``--impl``).

xcrop mode prints one row per backend x path x operation (cases, passed, bit-exact,
skipped, failed, worst ulp, time); ``--json`` and ``--junit`` write machine-readable
reports (one JUnit testcase per fixture x backend x path). Exit status: 0 when nothing
failed, 1 on any failure (or when nothing could run), 2 on a usage error.

Paths: ``fast`` is whatever the registry picks (the numba kernel where numba is
installed), ``fast_array`` the array-op fast paths with numba disabled (only for NumPy
and torch, and only when numba is installed: otherwise ``fast`` already is that path),
``generic`` the array-API reference path (:func:`xcrop.use_generic`). A case whose
operation has no fast path on a backend is *skipped* on ``fast``, with that reason: the
generic path serves it and is checked under ``generic``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .._dispatch import has_fast_path
from .._limitations import max_ulp
from ._adapters import (
    ADAPTERS,
    PATHS,
    Adapter,
    UnsupportedByBackend,
    numba_installed,
    serve_path,
)
from ._format import Case, default_fixture_dir, fixture_provenance, load_suite
from ._impl import (
    CATEGORIES,
    IMPL_BACKENDS,
    ImplCaseResult,
    load_impl,
    not_applicable,
    run_impl_case,
)
from ._runner import call_case, expected_exception, judge_exact, judge_fill

OP_GROUPS = {
    "crop_and_resize": "crop",
    "extract_glimpse": "glimpse",
    "crop_and_resize_grad_image": "grad_image",
    "crop_and_resize_grad_boxes": "grad_boxes",
}
_NAN_ULP = 2**62  # ulp distances at or above this mean a NaN placement mismatch


# ----------------------------------------------------------------------------------------
# results


@dataclass
class Result:
    """One fixture on one backend and path."""

    suite: str
    case: str
    op: str
    backend: str
    path: str
    status: str  # "exact", "within_bound", "failed", "skipped"
    worst_ulp: int = 0
    message: str = ""
    seconds: float = 0.0


@dataclass
class Row:
    """Aggregate of one backend x path x operation group."""

    backend: str
    path: str
    op: str
    cases: int = 0
    exact: int = 0
    within_bound: int = 0
    failed: int = 0
    skipped: int = 0
    worst_ulp: int = 0
    seconds: float = 0.0
    skip_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return self.exact + self.within_bound


@dataclass
class Target:
    adapter: Adapter
    path: str

    @property
    def name(self) -> str:
        return f"{self.adapter.name}/{self.path}"


def targets_for(adapters: list[Adapter], paths: list[str]) -> tuple[list[Target], list[str]]:
    """The (backend, path) pairs to run, and notes on the pairs left out and why."""
    out, notes = [], []
    for a in adapters:
        for p in paths:
            if p == "fast_array":
                if a.library not in ("numpy", "torch"):
                    continue  # the numba switch changes nothing on other libraries
                if not numba_installed():
                    notes.append(f"{a.name}/fast_array not run: numba is not installed, so "
                                 f"{a.name}/fast already is the array-op fast path")
                    continue
            out.append(Target(a, p))
    return out, notes


def run_case(case: Case, target: Target) -> Result:
    """Run one fixture on one target (the adapter must be active) and judge it."""
    adapter = target.adapter
    res = Result(case.suite, case.id, case.op, adapter.name, target.path, "exact")
    if target.path != "generic" and not has_fast_path(case.op, adapter.library):
        res.status = "skipped"
        res.message = (f"no fast path registered for {case.op} on {adapter.library}; the "
                       f"generic path serves it (checked under path=generic)")
        return res
    start = time.perf_counter()
    try:
        with serve_path(target.path):
            _judge(case, adapter, res)
    except UnsupportedByBackend as exc:
        res.status, res.message = "skipped", str(exc)
    except Exception as exc:
        res.status, res.message = "failed", f"raised {type(exc).__name__}: {exc}"
    res.seconds = time.perf_counter() - start
    return res


def _judge(case: Case, adapter: Adapter, res: Result) -> None:
    if case.check == "error":
        want = expected_exception(case)
        try:
            call_case(case, adapter.asarray)
        except want:
            return
        except UnsupportedByBackend:
            raise
        except Exception as exc:
            res.status = "failed"
            res.message = f"raised {type(exc).__name__}, expected {want.__name__}: {exc}"
            return
        res.status, res.message = "failed", f"no exception, expected {want.__name__}"
        return
    first = adapter.asarray(next(iter(case.inputs.values())))
    raw = call_case(case, adapter.asarray)
    problem = adapter.same_kind(raw, first)
    if problem is not None:
        res.status, res.message = "failed", problem
        return
    out = adapter.to_numpy(raw)
    if case.check == "fill_stats":
        ok, msg = judge_fill(case, out)
        if not ok:
            res.status, res.message = "failed", msg
        return
    bound = max_ulp(adapter.library, adapter.device_kind, case.op)
    ok, worst, msg = judge_exact(out, np.asarray(case.expected), bound)
    res.worst_ulp = worst
    if not ok:
        res.status, res.message = "failed", msg
    elif worst > 0:
        res.status = "within_bound"


# ----------------------------------------------------------------------------------------
# progress


class Progress:
    """Progress on stderr: one line per (target, suite) with counts and elapsed time, and a
    live counter inside a suite when stderr is a terminal."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.tty = bool(stream is not None and stream.isatty())
        self.start = time.perf_counter()
        self.width = 0

    def tick(self, label: str, i: int, n: int) -> None:
        if self.stream is not None and self.tty and (i % 10 == 0 or i == n):
            text = f"{label}: {i}/{n}"
            self.width = max(self.width, len(text))
            print(f"\r{text}", end="", file=self.stream, flush=True)

    def suite_done(self, label: str, results: list[Any], seconds: float) -> None:
        if self.stream is None:
            return
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        elapsed = time.perf_counter() - self.start
        line = (f"{label}: {len(results)} cases ({summary}) in {seconds:.1f} s "
                f"[elapsed {elapsed:.0f} s]")
        if self.tty:  # overwrite the live counter
            line = "\r" + line.ljust(self.width)
        print(line, file=self.stream, flush=True)


# ----------------------------------------------------------------------------------------
# tables and reports


def summarize(results: list[Result]) -> list[Row]:
    rows: dict[tuple[str, str, str], Row] = {}
    for r in results:
        key = (r.backend, r.path, OP_GROUPS[r.op])
        row = rows.setdefault(key, Row(*key))
        row.cases += 1
        row.seconds += r.seconds
        if r.status == "exact":
            row.exact += 1
        elif r.status == "within_bound":
            row.within_bound += 1
        elif r.status == "failed":
            row.failed += 1
        else:
            row.skipped += 1
            row.skip_reasons[r.message] = row.skip_reasons.get(r.message, 0) + 1
        if r.status != "skipped":
            row.worst_ulp = max(row.worst_ulp, r.worst_ulp)
    return list(rows.values())


def _ulp_text(u: int) -> str:
    return "NaN" if u >= _NAN_ULP else ("-" if u < 0 else str(u))


def _is_number(c: str) -> bool:
    return c in ("NaN", "inf") or c.replace(".", "").replace("-", "").replace("e", "") \
        .replace("+", "").isdigit()


def format_table(head: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    """Right-align the columns whose cells are all numbers (or "-"/empty), left-align text."""
    allrows = [head, *lines]
    widths = [max(len(r[i]) for r in allrows) for i in range(len(head))]
    numeric = [all(_is_number(r[i]) or r[i] in ("", "-") for r in lines) and
               any(_is_number(r[i]) for r in lines) for i in range(len(head))]
    out = []
    for j, line in enumerate(allrows):
        cells = [c.rjust(w) if j > 0 and num else c.ljust(w)
                 for c, w, num in zip(line, widths, numeric, strict=True)]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def xcrop_table(rows: list[Row]) -> str:
    head = ("backend", "path", "operation", "cases", "passed", "bit-exact", "skipped",
            "failed", "worst ulp", "time [s]")
    lines = [(r.backend, r.path, r.op, str(r.cases), str(r.passed), str(r.exact),
              str(r.skipped), str(r.failed), _ulp_text(r.worst_ulp) if r.passed else "-",
              f"{r.seconds:.1f}") for r in rows]
    return format_table(head, lines)


def write_junit(path: Path, suites: dict[str, list[tuple[str, str, str, str, float]]],
                properties: dict[str, str]) -> None:
    """Write JUnit XML. ``suites`` maps a testsuite name to testcases
    ``(classname, name, status, message, seconds)`` with status ``passed``, ``failed`` or
    ``skipped``."""
    root = ET.Element("testsuites", name="xcrop conformance")
    total = {"tests": 0, "failures": 0, "skipped": 0, "time": 0.0}
    for suite_name, cases in suites.items():
        n_fail = sum(1 for c in cases if c[2] == "failed")
        n_skip = sum(1 for c in cases if c[2] == "skipped")
        secs = sum(c[4] for c in cases)
        ts = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(cases)),
                           failures=str(n_fail), errors="0", skipped=str(n_skip),
                           time=f"{secs:.3f}", hostname=platform.node() or "localhost")
        props = ET.SubElement(ts, "properties")
        for k, v in properties.items():
            ET.SubElement(props, "property", name=k, value=v)
        for classname, name, status, message, seconds in cases:
            tc = ET.SubElement(ts, "testcase", classname=classname, name=name,
                               time=f"{seconds:.4f}")
            if status == "failed":
                first = message.splitlines()[0] if message else "failed"
                ET.SubElement(tc, "failure", message=first[:500],
                              type="ConformanceFailure").text = message
            elif status == "skipped":
                ET.SubElement(tc, "skipped", message=message or "skipped")
        total["tests"] += len(cases)
        total["failures"] += n_fail
        total["skipped"] += n_skip
        total["time"] += secs
    root.set("tests", str(total["tests"]))
    root.set("failures", str(total["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(total["skipped"]))
    root.set("time", f"{total['time']:.3f}")
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    raise TypeError(type(o).__name__)


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


# ----------------------------------------------------------------------------------------
# the two modes


def run_xcrop(cases_by_suite: dict[str, list[Case]], targets: list[Target],
              progress: Progress) -> list[Result]:
    results: list[Result] = []
    for target in targets:
        with target.adapter.active():
            for suite, cases in cases_by_suite.items():
                label = f"{target.name} {suite}"
                start = time.perf_counter()
                suite_results = []
                for i, case in enumerate(cases, 1):
                    suite_results.append(run_case(case, target))
                    progress.tick(label, i, len(cases))
                progress.suite_done(label, suite_results, time.perf_counter() - start)
                results.extend(suite_results)
    return results


def main_xcrop(args: argparse.Namespace, cases_by_suite: dict[str, list[Case]],
               header: str) -> int:
    adapters = [a for a in ADAPTERS if not args.backend or a.name in args.backend]
    chosen = set(args.path or ["all"])
    if "all" in chosen:
        chosen = set(PATHS)
    if "fast" in chosen:
        chosen.add("fast_array")
    paths = [p for p in PATHS if p in chosen]
    targets, notes = targets_for(adapters, paths)
    runnable, not_run = [], []
    for t in targets:
        reason = t.adapter.skip_reason()
        (not_run if reason else runnable).append((t, reason))
    progress = Progress(None if args.quiet else sys.stderr)
    results = run_xcrop(cases_by_suite, [t for t, _ in runnable], progress)
    # A backend that cannot run still appears in every report, every case skipped.
    all_cases = [c for cs in cases_by_suite.values() for c in cs]
    for t, reason in not_run:
        results.extend(Result(c.suite, c.id, c.op, t.adapter.name, t.path, "skipped",
                              message=f"backend not run: {reason}") for c in all_cases)
    rows = summarize(results)
    print(header)
    print(xcrop_table(rows))
    for note in notes:
        print(f"note: {note}")
    for t, reason in not_run:
        print(f"note: {t.name} not run: {reason}")
    failures = [r for r in results if r.status == "failed"]
    for r in failures[:args.max_failures]:
        print(f"FAIL [{r.backend}/{r.path}] {r.suite}/{r.case}: {r.message}")
    if len(failures) > args.max_failures:
        print(f"... and {len(failures) - args.max_failures} more failures (see --json/--junit)")

    if args.json:
        report = {
            "mode": "xcrop", "header": header, "notes": notes,
            "not_run": {t.name: reason for t, reason in not_run},
            "summary": [{**r.__dict__, "passed": r.passed} for r in rows],
            "results": [r.__dict__ for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=_json_default))
    if args.junit:
        suites: dict[str, list[tuple[str, str, str, str, float]]] = {}
        for r in results:
            status = {"exact": "passed", "within_bound": "passed"}.get(r.status, r.status)
            msg = r.message if r.status != "within_bound" else ""
            suites.setdefault(f"xcrop {r.backend}/{r.path}", []).append(
                (f"xcrop.conformance.{r.backend}.{r.path}.{r.suite}", r.case, status, msg,
                 r.seconds))
        write_junit(args.junit, suites, _properties(args))
    ran = [r for r in results if r.status != "skipped"]
    if failures or not ran:
        print(f"{len(failures)} failure(s)" if failures else "nothing could run",
              file=sys.stderr)
        return 1
    return 0


def impl_table(results: list[ImplCaseResult]) -> str:
    """Per suite and box category: boxes, bit-exact boxes, unsupported, worst errors."""
    agg: dict[tuple[str, str], list[Any]] = {}
    for r in results:
        for cat, st in r.per_category.items():
            a = agg.setdefault((r.case.suite, cat), [0, 0, 0, 0, 0.0, 0])
            a[0] += st.boxes
            if r.status == "unsupported":
                a[2] += st.boxes
                continue
            a[1] += st.passed
            a[3] += st.boxes - st.passed
            a[4] = max(a[4], st.worst_abs)
            a[5] = max(a[5], st.worst_ulp) if st.worst_ulp >= 0 else _NAN_ULP
    order = {c: i for i, c in enumerate(CATEGORIES)}
    lines = []
    for (suite, cat), (n, ok, uns, bad, wabs, wulp) in sorted(
            agg.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        checked = n - uns
        lines.append((suite, cat, str(n), str(ok), str(bad), str(uns),
                      f"{wabs:.3g}" if checked and cat != "invalid input" else "-",
                      _ulp_text(wulp) if checked and cat != "invalid input" else "-"))
    head = ("suite", "category", "boxes", "bit-exact", "deviating", "unsupported",
            "worst abs", "worst ulp")
    return format_table(head, lines)


def impl_category_totals(results: list[ImplCaseResult]) -> dict[str, dict[str, Any]]:
    tot: dict[str, dict[str, Any]] = {}
    for r in results:
        for cat, st in r.per_category.items():
            t = tot.setdefault(cat, {"boxes": 0, "bit_exact": 0, "deviating": 0,
                                     "unsupported": 0, "worst_abs": 0.0, "worst_ulp": 0})
            t["boxes"] += st.boxes
            if r.status == "unsupported":
                t["unsupported"] += st.boxes
                continue
            t["bit_exact"] += st.passed
            t["deviating"] += st.boxes - st.passed
            t["worst_abs"] = max(t["worst_abs"], st.worst_abs)
            t["worst_ulp"] = max(t["worst_ulp"], st.worst_ulp)
    for t in tot.values():
        t["worst_abs"] = _finite(t["worst_abs"])
    return tot


def main_impl(args: argparse.Namespace, cases_by_suite: dict[str, list[Case]],
              header: str) -> int:
    try:
        fn = load_impl(args.impl)
    except (ValueError, ImportError, AttributeError, TypeError) as exc:
        print(f"error: cannot load --impl {args.impl!r}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 2
    left_out = sum(1 for cs in cases_by_suite.values() for c in cs if not_applicable(c))
    crop_suites = {s: [c for c in cs if not not_applicable(c)]
                   for s, cs in cases_by_suite.items()}
    crop_suites = {s: cs for s, cs in crop_suites.items() if cs}
    if not crop_suites:
        print("error: the selected suites hold no crop_and_resize cases (--impl checks "
              "crop_and_resize only)", file=sys.stderr)
        return 2
    progress = Progress(None if args.quiet else sys.stderr)
    results: list[ImplCaseResult] = []
    for suite, cases in crop_suites.items():
        start = time.perf_counter()
        suite_results = []
        for i, case in enumerate(cases, 1):
            suite_results.append(run_impl_case(case, fn, args.impl_backend, args.max_ulp))
            progress.tick(f"{args.impl} {suite}", i, len(cases))
        progress.suite_done(f"{args.impl} {suite}", suite_results, time.perf_counter() - start)
        results.extend(suite_results)
    print(header)
    print(f"implementation: {args.impl} (inputs as {args.impl_backend}; pass = within "
          f"{args.max_ulp} ulp of TF)")
    if left_out:
        print(f"({left_out} selected cases do not apply to a TF-signature implementation: "
              f"other operations, TF1 keyword handling)")
    print(impl_table(results))
    failures = [r for r in results if r.status == "failed"]
    unsupported = [r for r in results if r.status == "unsupported"]
    reasons: dict[str, int] = {}
    for r in unsupported:
        reasons[r.message] = reasons.get(r.message, 0) + 1
    for msg, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"unsupported ({n} cases): {msg}")
    for r in failures[:args.max_failures]:
        print(f"DEVIATES {r.case.key}: {r.message}")
    if len(failures) > args.max_failures:
        print(f"... and {len(failures) - args.max_failures} more (see --json/--junit)")
    n_ok = sum(r.status == "passed" for r in results)
    print(f"{n_ok} of {len(results)} cases pass, {len(failures)} deviate, "
          f"{len(unsupported)} unsupported")
    if args.json:
        report = {
            "mode": "impl", "impl": args.impl, "impl_backend": args.impl_backend,
            "max_ulp": args.max_ulp, "header": header,
            "categories": impl_category_totals(results),
            "results": [{
                "suite": r.case.suite, "case": r.case.id, "description": r.case.description,
                "status": r.status, "message": r.message, "seconds": r.seconds,
                "worst_abs": _finite(r.worst_abs), "worst_ulp": r.worst_ulp,
                "per_category": {k: {**v.__dict__, "worst_abs": _finite(v.worst_abs)}
                                 for k, v in r.per_category.items()},
            } for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=_json_default))
    if args.junit:
        suites = {f"impl {args.impl}": [
            (f"xcrop.conformance.impl.{r.case.suite}", r.case.id,
             {"unsupported": "skipped"}.get(r.status, r.status),
             f"unsupported: {r.message}" if r.status == "unsupported" else r.message,
             r.seconds) for r in results]}
        write_junit(args.junit, suites, {**_properties(args), "impl": args.impl})
    return 1 if failures or n_ok == 0 else 0


# ----------------------------------------------------------------------------------------
# entry point


def _properties(args: argparse.Namespace) -> dict[str, str]:
    import xcrop

    return {"xcrop_version": xcrop.__version__, "numpy_version": np.__version__,
            "python": platform.python_version(), "tf_version": args._tf_version}


def build_parser(prog: str = "python -m xcrop.conformance") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Check xcrop (or, with --impl, another crop_and_resize) against the "
                    "recorded TensorFlow outputs shipped with xcrop. Exit status 1 on any "
                    "failure.",
    )
    names = [a.name for a in ADAPTERS]
    parser.add_argument("--backend", action="append", choices=names,
                        help="backend to run (repeatable; default: every backend, those not "
                             "installed are reported as skipped)")
    parser.add_argument("--path", action="append",
                        choices=("fast", "fast_array", "generic", "all"),
                        help="implementation path (repeatable): fast (the registry's choice, "
                             "plus fast_array = numba disabled), fast_array, generic, or all "
                             "(default)")
    parser.add_argument("--suite", action="append",
                        help="fixture suite (repeatable; default: all; see --list)")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.add_argument("--fixtures", type=Path, help="fixture directory (default: shipped)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write a JSON report")
    parser.add_argument("--junit", type=Path, metavar="PATH", help="write a JUnit XML report")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--max-failures", type=int, default=20, metavar="N",
                        help="failure lines to print (default 20)")
    parser.add_argument("--impl", metavar="MODULE:FUNCTION",
                        help="check this crop_and_resize(image, boxes, box_indices, crop_size, "
                             "method, extrapolation_value) instead of xcrop, e.g. "
                             "xcrop.conformance.peers:kornia_crop_and_resize")
    parser.add_argument("--impl-backend", choices=IMPL_BACKENDS, default="numpy",
                        help="array type the --impl function receives (default numpy)")
    parser.add_argument("--max-ulp", type=int, default=0, metavar="N",
                        help="--impl only: deviation (ulp) still counted as passing (default 0)")
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m xcrop.conformance") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        directory = args.fixtures or default_fixture_dir()
        provenance = fixture_provenance(directory)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tf_versions = sorted({p["tf_version"] for p in provenance.values()})
    args._tf_version = ", ".join(tf_versions)
    if args.list:
        print(f"fixtures: {directory} (recorded with TensorFlow {args._tf_version})")
        print(format_table(("suite", "cases", "operations", "tf"), [
            (name, str(p["n_cases"]), ",".join(OP_GROUPS.get(o, o) for o in p["ops"]),
             p["tf_version"]) for name, p in provenance.items()]))
        return 0
    selected = args.suite or list(provenance)
    unknown = sorted(set(selected) - set(provenance))
    if unknown:
        print(f"error: unknown suite(s) {unknown}; available: {sorted(provenance)}",
              file=sys.stderr)
        return 2
    cases_by_suite = {s: load_suite(directory / s) for s in selected}
    n = sum(len(c) for c in cases_by_suite.values())
    if not n:
        print("error: no conformance cases selected", file=sys.stderr)
        return 2
    import xcrop

    header = (f"xcrop {xcrop.__version__} conformance: {n} TF cases in "
              f"{len(cases_by_suite)} suites, recorded with TensorFlow {args._tf_version} "
              f"(fixtures: {directory})")
    if args.impl:
        return main_impl(args, cases_by_suite, header)
    if args.impl_backend != "numpy" or args.max_ulp:
        parser.error("--impl-backend and --max-ulp apply only with --impl")
    return main_xcrop(args, cases_by_suite, header)
