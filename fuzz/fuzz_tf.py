"""Differential fuzzing of xcrop against live TensorFlow 2.21 (CPU).

Usage (``nox -s fuzz -- ...`` passes the same arguments)::

    python fuzz/fuzz_tf.py --cases 10000 --seed 1
    python fuzz/fuzz_tf.py --cases 200 --op crop_and_resize --op grad_boxes
    python fuzz/fuzz_tf.py --replay fuzz/failures/crop_and_resize-seed1.json

For each operation (``crop_and_resize``, ``extract_glimpse_v2``, ``extract_glimpse_v1``,
``grad_image``, ``grad_boxes``) Hypothesis draws ``--cases`` calls (strategies in
``fuzz/fuzz_strategies.py``), runs each through TF and through every xcrop backend and path:

* numpy and torch: ``fast`` (what the registry picks: numba kernels where installed),
  ``fast_array`` (numba off: ``XCROP_NO_NUMBA=1``, crops only) and ``generic``
  (``xcrop.use_generic()``);
* array_api_strict (generic only: it has no fast path);
* JAX eager (x64 off and on; the same paths as numpy and torch: the host fast paths on
  CPU views, and the generic path), one target in turn on every ``--jax-every``-th case
  only, chosen by a hash of the case: JAX's generic path compiles every new shape.

The gradients have no fast paths (``xcrop.crop_and_resize_grad_*`` always run the
generic code), so they run once per backend.

Judging reuses the conformance runner: outputs must be bit-identical (NaN positions and
the sign of zero included) except where ``xcrop.capabilities`` declares a bound; where
TF raises, xcrop must raise the exception ``expected_exception`` maps TF's to. A random
(uniform/gaussian) glimpse fill differs run to run in TF, so there only the copied
(in-image) elements must match, and the filled positions must equal TF's (found with a
zero-fill probe on an all-ones input).

A mismatch makes Hypothesis shrink the case; the minimal one is printed as a runnable
snippet and saved to ``fuzz/failures/<op>-seed<seed>.json`` (replay with ``--replay``)
and as a fixture suite under ``fuzz/failures/fixtures/`` (the conformance format, ready
to be copied into ``conformance/fixtures``). The script prints per-operation case and
mismatch counts and exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Keep every library to one thread: the fuzzer shares its machine, and TF/torch thread
# pools only add scheduling noise to tiny calls. (Set before the libraries load.)
for _var in ("OMP_NUM_THREADS", "XCROP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_strategies import (  # noqa: E402
    OPS,
    is_random_fill,
    path_context,
    probe_case,
    run_tf,
    strategy_for,
)

from xcrop.capabilities import max_ulp  # noqa: E402
from xcrop.conformance._adapters import ADAPTERS, Adapter, UnsupportedByBackend  # noqa: E402
from xcrop.conformance._format import Case, write_suite  # noqa: E402
from xcrop.conformance._runner import call_case, expected_exception, judge_exact  # noqa: E402

FAILURE_DIR = Path(__file__).resolve().parent / "failures"
_ADAPTER = {a.name: a for a in ADAPTERS}
SKIPPED = "skipped"


# --------------------------------------------------------------------------------------
# Targets: backend x path
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    adapter: Adapter
    path: str  # "fast", "fast_array" or "generic"

    @property
    def name(self) -> str:
        return f"{self.adapter.name}/{self.path}"


def targets_for(op: str, backends: list[str]) -> list[Target]:
    if op in ("grad_image", "grad_boxes"):
        paths = ("fast",)  # gradients have one implementation
    elif op == "crop_and_resize":
        paths = ("fast", "fast_array", "generic")
    else:
        paths = ("fast", "generic")  # glimpse fast paths do not use numba
    out = []
    for name in backends:
        adapter = _ADAPTER[name]
        if adapter.skip_reason():
            continue
        for path in (("fast",) if name == "array_api_strict" else paths):
            out.append(Target(adapter, path))
    return out


# --------------------------------------------------------------------------------------
# Judging one case on one target
# --------------------------------------------------------------------------------------

def _first_input(case: Case) -> np.ndarray:
    return next(iter(case.inputs.values()))


def _call(case: Case, target: Target) -> Any:
    with target.adapter.active(), path_context(target.path):
        return call_case(case, target.adapter.asarray)


def judge(case: Case, target: Target, tf_mask: np.ndarray | None,
          tf_probe: np.ndarray | None, probe: Case | None) -> str | None:
    """None if ``target`` agrees with TF on ``case``, SKIPPED if the backend cannot hold
    its inputs, else a description of the mismatch."""
    adapter = target.adapter
    if case.check == "error":
        want = expected_exception(case)
        try:
            _call(case, target)
        except UnsupportedByBackend:
            return SKIPPED
        except want:
            return None
        except Exception as exc:
            return (f"raised {type(exc).__name__}: {exc}; TF raised {case.error['tf_type']} "
                    f"({case.error['tf_summary']}), so {want.__name__} was expected")
        return f"returned a result; TF raised {case.error['tf_type']}: {case.error['tf_summary']}"
    try:
        first = adapter.asarray(_first_input(case))
        raw = _call(case, target)
    except UnsupportedByBackend:
        return SKIPPED
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}; TF returned a result"
    problem = adapter.same_kind(raw, first)
    if problem:
        return problem
    out = adapter.to_numpy(raw)
    expected = np.asarray(case.expected)
    if case.check == "fill_stats":
        assert tf_mask is not None and tf_probe is not None and probe is not None
        # Fill positions: the zero-fill probe must match TF's bit for bit.
        ok, _, msg = judge_exact(adapter.to_numpy(_call(probe, target)), tf_probe)
        if not ok:
            return f"fill positions differ from TF's (zero-fill probe on ones): {msg}"
        if out.shape != expected.shape or out.dtype != expected.dtype:
            return f"shape/dtype {out.shape}/{out.dtype}, TF {expected.shape}/{expected.dtype}"
        ok, _, msg = judge_exact(out[~tf_mask], expected[~tf_mask])
        return None if ok else f"copied (in-image) elements differ: {msg}"
    bound = max_ulp(adapter.library, adapter.device_kind, case.op)
    ok, _, msg = judge_exact(out, expected, bound)
    return None if ok else msg


# --------------------------------------------------------------------------------------
# Failure output
# --------------------------------------------------------------------------------------

def _encode(arr: np.ndarray) -> dict[str, Any]:
    arr = np.ascontiguousarray(arr)
    return {"dtype": arr.dtype.name, "shape": list(arr.shape), "hex": arr.tobytes().hex()}


def _decode(d: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(d["hex"]), d["dtype"]).reshape(d["shape"]).copy()


def _params_literal(params: dict[str, Any], keys: tuple[str, ...]) -> str:
    def lit(v: Any) -> str:
        if isinstance(v, float) and not np.isfinite(v):
            return f"float('{v}')"
        return repr(v)
    return ", ".join(f"{k}={lit(params[k])}" for k in keys if k in params)


#: Per call: the params passed as keywords (``{kw}``), then the xcrop and the TF call as
#: templates over the case's params.
_SNIPPET_CALLS = {
    "crop_and_resize": (
        ("method", "extrapolation_value"),
        "xcrop.crop_and_resize(image, boxes, box_indices, {crop_size!r}, {kw})",
        "tf.image.crop_and_resize(image, boxes, box_indices, {crop_size!r}, {kw})"),
    "extract_glimpse_v2": (
        ("centered", "normalized", "noise"),
        "xcrop.extract_glimpse(input, {size!r}, offsets, {kw}, seed=0)",
        "tf.raw_ops.ExtractGlimpseV2(input=input, size={size!r}, offsets=offsets, "
        "uniform_noise=False, {kw})"),
    "extract_glimpse_v1": (
        ("centered", "normalized", "uniform_noise", "noise"),
        "xcrop.compat.v1.extract_glimpse(input, {size!r}, offsets, {kw}, seed=0)",
        "tf.raw_ops.ExtractGlimpse(input=input, size={size!r}, offsets=offsets, {kw})"),
    "crop_and_resize_grad_image": (
        (),
        "xcrop.crop_and_resize_grad_image(grads, boxes, box_indices, {image_shape!r}, "
        "method={method!r}, dtype={T!r})",
        "tf.raw_ops.CropAndResizeGradImage(grads=grads, boxes=boxes, box_ind=box_indices, "
        "image_size={image_shape!r}, T=tf.{T}, method={method!r})"),
    "crop_and_resize_grad_boxes": (
        (),
        "xcrop.crop_and_resize_grad_boxes(grads, image, boxes, box_indices)",
        "tf.raw_ops.CropAndResizeGradBoxes(grads=grads, image=image, boxes=boxes, "
        "box_ind=box_indices)"),
}


def snippet(case: Case) -> str:
    """A standalone script that repeats ``case`` in xcrop and in TF."""
    lines = ["import numpy as np", "import xcrop", "",
             "def a(h, dtype, shape):",
             "    return np.frombuffer(bytes.fromhex(h), dtype).reshape(shape).copy()", ""]
    for k, v in case.inputs.items():
        e = _encode(v)
        lines.append(f"{k} = a({e['hex']!r}, {e['dtype']!r}, {tuple(e['shape'])!r})")
    p = case.params
    call = case.op
    if call == "extract_glimpse":
        call += "_v2" if case.api == "v2" else "_v1"
    keys, xcrop_call, tf_call = _SNIPPET_CALLS[call]
    kw = _params_literal(p, keys)
    lines.append("out = " + xcrop_call.format(**p, kw=kw))
    if call == "crop_and_resize" and case.api == "v1":
        lines.append(f"# xcrop call as fuzzed: xcrop.compat.v1.crop_and_resize with "
                     f"{p['index_kwarg']}")
    lines += ["", "import tensorflow as tf", "tf.config.experimental.enable_op_determinism()",
              f"ref = {tf_call.format(**p, kw=kw)}.numpy()",
              "print(np.array_equal(out.view(np.uint8), ref.view(np.uint8)))"]
    return "\n".join(lines)


def save_failure(case: Case, problems: list[str], op: str, seed: int, tf_version: str) -> Path:
    FAILURE_DIR.mkdir(parents=True, exist_ok=True)
    path = FAILURE_DIR / f"{op}-seed{seed}.json"
    record = {
        "fuzz_op": op, "op": case.op, "api": case.api, "params": case.params,
        "inputs": {k: _encode(v) for k, v in case.inputs.items()},
        "tf": ({"error": case.error} if case.check == "error"
               else {"check": case.check, "expected": _encode(np.asarray(case.expected))}),
        "problems": problems, "tf_version": tf_version, "seed": seed,
        "snippet": snippet(case),
    }
    path.write_text(json.dumps(record, indent=1, default=float))
    # The same case as a conformance fixture suite, so it can join the recorded fixtures.
    fixture = Case(f"fuzz-{op}-seed{seed}".replace("_", "-"), "case-000", case.op, case.api,
                   case.inputs, case.params, case.expected, case.check, case.error,
                   f"fuzz_tf.py minimal mismatch: {problems[0][:200]}")
    write_suite(FAILURE_DIR / "fixtures", fixture.suite, [fixture], tf_version=tf_version,
                recorder="fuzz/fuzz_tf.py")
    return path


# --------------------------------------------------------------------------------------
# The fuzz loop
# --------------------------------------------------------------------------------------

class Mismatch(AssertionError):
    pass


class _TimeUp(BaseException):
    """--max-seconds reached: a BaseException, so Hypothesis stops without shrinking."""


@dataclass
class Stats:
    op: str
    calls: int = 0  # every case run, shrinking included
    cases: int = 0  # cases generated before the first mismatch (or all)
    tf_errors: int = 0
    random_fill: int = 0
    jax_cases: int = 0
    mismatches: int = 0
    skipped: int = 0  # (case, target) pairs a backend could not hold
    target_runs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    failure: tuple[Case, list[str]] | None = None
    failure_file: str = ""
    time_up: bool = False


def check_case(tf: Any, pending: Case, targets: list[Target], jax_targets: list[Target],
               jax_every: int, stats: Stats) -> list[str]:
    """Run one case through TF and every target; return the mismatches."""
    case = run_tf(tf, pending, "case")
    tf_mask = tf_probe = probe = None
    if case.check == "error":
        stats.tf_errors += 1
    elif is_random_fill(case):
        stats.random_fill += 1
        probe = run_tf(tf, probe_case(case), "probe")
        tf_probe = np.asarray(probe.expected)
        tf_mask = tf_probe == 0
    chosen = list(targets)
    if jax_targets and jax_every > 0:
        # By a hash of the case, not a counter, so a shrinking run sees the same choice.
        key = zlib.crc32(repr((case.op, case.api, sorted(case.params.items()),
                               [(v.dtype.name, v.shape) for v in case.inputs.values()]))
                         .encode())
        if key % jax_every == 0:
            stats.jax_cases += 1
            chosen.append(jax_targets[(key // jax_every) % len(jax_targets)])
    problems = []
    for target in chosen:
        verdict = judge(case, target, tf_mask, tf_probe, probe)
        stats.target_runs[target.name] = stats.target_runs.get(target.name, 0) + 1
        if verdict == SKIPPED:
            stats.skipped += 1
        elif verdict is not None:
            problems.append(f"{target.name}: {verdict}")
    if problems:
        stats.failure = (case, problems)
    return problems


def fuzz_op(tf: Any, op: str, n: int, seed: int, backends: list[str], jax_every: int,
            progress: bool, max_seconds: float | None = None) -> Stats:
    stats = Stats(op)
    targets = targets_for(op, [b for b in backends if not b.startswith("jax")])
    jax_targets = targets_for(op, [b for b in backends if b.startswith("jax")])
    start = time.perf_counter()
    failed_at: list[int] = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=False,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False, print_blob=False)
    @hypothesis_seed(seed)
    @given(strategy_for(op))
    def run(pending: Case) -> None:
        if max_seconds and not failed_at and time.perf_counter() - start > max_seconds:
            raise _TimeUp
        stats.calls += 1
        problems = check_case(tf, pending, targets, jax_targets, jax_every, stats)
        if problems and not failed_at:
            failed_at.append(stats.calls)
        if progress and not failed_at and stats.calls % 500 == 0:
            print(f"  {op}: {stats.calls} cases, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
        if problems:
            raise Mismatch("\n".join(problems))

    try:
        run()
    except Mismatch:
        stats.mismatches = 1  # Hypothesis stops at the first (shrunk) failure
    except _TimeUp:
        stats.time_up = True
    stats.cases = failed_at[0] if failed_at else stats.calls
    stats.seconds = time.perf_counter() - start
    return stats


def replay(tf: Any, path: Path, backends: list[str]) -> int:
    record = json.loads(path.read_text())
    inputs = {k: _decode(v) for k, v in record["inputs"].items()}
    pending = Case("fuzz", "replay", record["op"], record["api"], inputs, record["params"],
                   np.zeros(0, np.float32), "exact")
    stats = Stats(record["fuzz_op"])
    problems = check_case(tf, pending, targets_for(record["fuzz_op"], backends), [], 0, stats)
    print(snippet(pending))
    for p in problems:
        print("MISMATCH", p)
    print("no mismatch" if not problems else f"{len(problems)} mismatching target(s)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per operation")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed")
    parser.add_argument("--op", action="append", choices=OPS,
                        help="operation to fuzz (repeatable; default: all)")
    parser.add_argument("--backend", action="append",
                        choices=["numpy", "torch", "array_api_strict", "jax", "jax_x64"],
                        help="backend (repeatable; default: all installed)")
    parser.add_argument("--jax-every", type=int, default=50,
                        help="run JAX on one case in this many (0: never)")
    parser.add_argument("--max-seconds", type=float,
                        help="stop each operation after this long (reported as such)")
    parser.add_argument("--replay", type=Path, help="re-run a saved failure JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    # Compile (or load) every numba kernel now: on first use they build in the background
    # while the array paths serve, and the "fast" rows must time and check the kernels.
    from xcrop._backends.numba import loader

    loader.compile_kernels(progress=lambda m: print(m, file=sys.stderr, flush=True))

    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    backends = args.backend or ["numpy", "torch", "array_api_strict", "jax", "jax_x64"]
    if "torch" in backends:
        import torch

        torch.set_num_threads(1)
    if args.replay:
        return replay(tf, args.replay, backends)

    print(f"xcrop differential fuzz vs TensorFlow {tf.__version__}: {args.cases} cases per "
          f"operation, seed {args.seed}")
    all_stats = []
    for op in args.op or OPS:
        stats = fuzz_op(tf, op, args.cases, args.seed, backends, args.jax_every,
                        progress=not args.quiet, max_seconds=args.max_seconds)
        all_stats.append(stats)
        if stats.failure is not None and stats.mismatches:
            case, problems = stats.failure
            stats.failure_file = str(save_failure(case, problems, op, args.seed, tf.__version__))
            print(f"\nMISMATCH in {op} (minimal example after shrinking):")
            for p in problems:
                print(f"  {p}")
            print(f"saved to {stats.failure_file}; reproduce with:\n")
            print(snippet(case))
            print()
        runs = ", ".join(f"{k} {v}" for k, v in sorted(stats.target_runs.items()))
        print(f"{op:20s} cases {stats.cases:6d}  mismatches {stats.mismatches}  "
              f"TF errors {stats.tf_errors}  random fills {stats.random_fill}  "
              f"JAX cases {stats.jax_cases}  skipped {stats.skipped}  {stats.seconds:.0f} s"
              + ("  (stopped by --max-seconds)" if stats.time_up else ""),
              flush=True)
        print(f"{'':20s} target runs: {runs}", flush=True)
    total = sum(s.mismatches for s in all_stats)
    print(f"total: {sum(s.cases for s in all_stats)} cases, {total} mismatching operation(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
