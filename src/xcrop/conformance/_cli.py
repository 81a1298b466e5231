"""``python -m xcrop.conformance`` (also ``xcrop conformance``): run the recorded TF
fixtures on every installed backend and every path, or through a third-party
implementation (``--impl``).

xcrop mode prints one row per backend x path x operation (cases, passed, bit-exact,
skipped, failed, worst ulp, time); ``--json`` and ``--junit`` write machine-readable
reports (one JUnit testcase per fixture x backend x path). Exit status: 0 when nothing
failed, 1 on any failure (or when nothing could run), 2 on a usage error.

Paths: by default every fixture runs once per backend on ``default``, the path dispatch
picks for it, which is what a user's call gets (the numba kernel, an array-op fast path,
or the generic path where an operation has none). ``--path all`` is the exhaustive
matrix: ``fast`` (dispatch's choice, for the operations that have a fast path on the
backend), ``fast_array`` (the same with numba disabled, where that changes the path:
NumPy, torch and JAX crops and glimpses with numba installed) and ``generic`` (the
array-API reference path, :func:`xcrop.use_generic`, for everything). Combinations that
cannot exist are not run (they are listed in a note), rather than reported as skipped.

Progress goes to stderr from the first moment: a line saying what will run, a message
while numba compiles its kernels (once per machine), a live bar (tqdm, on a terminal) or
a line per suite and a heartbeat, and a summary line per suite.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..capabilities import max_ulp
from ._adapters import (
    ADAPTERS,
    DEFAULT,
    MODE_ADAPTERS,
    PATHS,
    Adapter,
    Target,
    UnsupportedByBackend,
    numba_installed,
    serve_path,
    targets_for,
)
from ._format import Case, default_fixture_dir, fixture_provenance, load_suite
from ._impl import (
    IMPL_BACKENDS,
    ImplCaseResult,
    load_impl,
    not_applicable,
    run_impl_case,
)
from ._progress import Progress
from ._report import (
    Row,
    finite,
    format_table,
    impl_category_totals,
    impl_table,
    json_default,
    write_junit,
    xcrop_table,
)
from ._runner import expected_exception, judge_exact, judge_fill

OP_GROUPS = {
    "crop_and_resize": "crop",
    "extract_glimpse": "glimpse",
    "crop_and_resize_grad_image": "grad_image",
    "crop_and_resize_grad_boxes": "grad_boxes",
}


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


def run_case(case: Case, target: Target) -> Result:
    """Run one fixture on one target (the adapter must be active) and judge it."""
    adapter = target.adapter
    res = Result(case.suite, case.id, case.op, adapter.name, target.path, "exact")
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
            adapter.call(case)
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
    raw = adapter.call(case)
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
    bound = max_ulp(adapter.library, adapter.device_kind, case.op, adapter.mode)
    ok, worst, msg = judge_exact(out, np.asarray(case.expected), bound)
    res.worst_ulp = worst
    if not ok:
        res.status, res.message = "failed", msg
    elif worst > 0:
        res.status = "within_bound"


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



# ----------------------------------------------------------------------------------------
# the two modes


def run_xcrop(cases_by_suite: dict[str, list[Case]], targets: list[Target],
              progress: Progress) -> list[Result]:
    results: list[Result] = []
    for target in targets:
        with target.adapter.active():
            for suite, cases in cases_by_suite.items():
                cases = [c for c in cases if target.applies(c.op)]
                if not cases:
                    continue
                progress.begin(f"{target.name} {suite}", len(cases))
                start = time.perf_counter()
                suite_results = []
                for case in cases:
                    suite_results.append(run_case(case, target))
                    progress.tick()
                progress.suite_done(suite_results, time.perf_counter() - start)
                results.extend(suite_results)
    return results


def _left_out(cases_by_suite: dict[str, list[Case]], targets: list[Target]) -> list[str]:
    """Notes on the operations a target does not run (no fast path there, or no numba)."""
    ops = sorted({c.op for cs in cases_by_suite.values() for c in cs})
    notes = []
    for t in targets:
        missing = [OP_GROUPS[op] for op in ops if not t.applies(op)]
        if missing:
            why = ("no fast path on this backend: generic serves them (see path generic)"
                   if t.path == "fast" else "numba does not change their fast path")
            notes.append(f"{t.name} does not run {', '.join(missing)}: {why}")
    return notes


def _compile_numba(targets: list[Target], progress: Progress) -> None:
    """Compile (or load) the numba kernels up front, saying so when it is a real compile:
    the paths that use them must find them ready (a first call would otherwise be served
    by the array path while they compile in the background)."""
    if not any(t.path in (DEFAULT, "fast") and t.adapter.library in ("numpy", "torch", "jax")
               for t in targets):
        return
    from .._backends.numba import loader

    said: list[str] = []

    def say(message: str) -> None:
        said.append(message)
        progress.line(message)

    seconds = loader.compile_kernels(progress=say)
    if said:
        progress.line(f"numba kernels ready in {seconds:.0f} s (cached on disk from now on)")


def main_xcrop(args: argparse.Namespace, cases_by_suite: dict[str, list[Case]],
               header: str) -> int:
    # The jit modes only when named: their first run compiles the FFI handlers for
    # minutes, which would break the default run's ten-minute budget on a fresh machine.
    adapters = ([a for a in (*ADAPTERS, *MODE_ADAPTERS) if a.name in args.backend]
                if args.backend else list(ADAPTERS))
    chosen = set(args.path or [DEFAULT])
    if "all" in chosen:
        chosen = (chosen - {"all"}) | set(PATHS)
    paths = [p for p in (DEFAULT, *PATHS) if p in chosen]
    targets, notes = targets_for(adapters, paths)
    runnable, not_run = [], []
    for t in targets:
        reason = t.adapter.skip_reason()
        (not_run if reason else runnable).append((t, reason))
    run_targets = [t for t, _ in runnable]
    notes += _left_out(cases_by_suite, run_targets)
    total = sum(1 for t in run_targets for cs in cases_by_suite.values() for c in cs
                if t.applies(c.op))
    progress = Progress(None if args.quiet else sys.stderr, total)
    order = [a.name for a in (*ADAPTERS, *MODE_ADAPTERS)]
    backends = sorted({t.adapter.name for t in run_targets}, key=order.index)
    progress.line(f"{total} case runs: {len(cases_by_suite)} suites on "
                  f"{', '.join(backends) or 'no backend'} (path {', '.join(paths)}); numba "
                  f"{'installed' if numba_installed() else 'not installed'}")
    try:
        _compile_numba(run_targets, progress)
        results = run_xcrop(cases_by_suite, run_targets, progress)
    finally:
        progress.close()
    # A backend that cannot run still appears in every report, every case skipped.
    all_cases = [c for cs in cases_by_suite.values() for c in cs]
    for t, reason in not_run:
        results.extend(Result(c.suite, c.id, c.op, t.adapter.name, t.path, "skipped",
                              message=f"backend not run: {reason}")
                       for c in all_cases if t.applies(c.op))
    rows = summarize(results)
    print(header)
    print(xcrop_table(rows))
    print(f"wall time {progress.elapsed():.0f} s")
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
        args.json.write_text(json.dumps(report, indent=1, default=json_default))
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
    progress = Progress(None if args.quiet else sys.stderr,
                        sum(len(cs) for cs in crop_suites.values()))
    results: list[ImplCaseResult] = []
    try:
        for suite, cases in crop_suites.items():
            progress.begin(f"{args.impl} {suite}", len(cases))
            start = time.perf_counter()
            suite_results = []
            for case in cases:
                suite_results.append(run_impl_case(case, fn, args.impl_backend, args.max_ulp))
                progress.tick()
            progress.suite_done(suite_results, time.perf_counter() - start)
            results.extend(suite_results)
    finally:
        progress.close()
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
                "worst_abs": finite(r.worst_abs), "worst_ulp": r.worst_ulp,
                "per_category": {k: {**v.__dict__, "worst_abs": finite(v.worst_abs)}
                                 for k, v in r.per_category.items()},
            } for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=json_default))
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
    names = [a.name for a in (*ADAPTERS, *MODE_ADAPTERS)]
    parser.add_argument("--backend", action="append", choices=names,
                        help="backend to run (repeatable; default: every eager backend, those "
                             "not installed are reported as skipped). jax_jit and jax_x64_jit "
                             "run the fixtures under jax.jit (x64 off / on), only when named: "
                             "with numba's cache warm both take about 2.5 minutes, but on a "
                             "fresh machine numba first compiles the XLA FFI handlers (about "
                             "9 minutes measured under load)")
    parser.add_argument("--path", action="append",
                        choices=(DEFAULT, *PATHS, "all"),
                        help="implementation path (repeatable): default (what dispatch picks "
                             "for each call, as a user's call gets it; the default), fast (the "
                             "fast paths, for the operations that have one), fast_array (the "
                             "same with numba disabled), generic (the reference path), or all "
                             "(fast, fast_array and generic: the exhaustive matrix)")
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
    if not (args.quiet or args.list):  # a first line at once, before anything slow
        print(f"{prog}: loading the recorded TF fixtures…", file=sys.stderr, flush=True)
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
