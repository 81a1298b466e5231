"""Differential fuzzing of xcrop against live TensorFlow 2.21 (CPU).

Usage (``nox -s fuzz -- ...`` passes the same arguments)::

    python fuzz/fuzz_tf.py --cases 10000 --seed 1
    python fuzz/fuzz_tf.py --cases 200 --op crop_and_resize --op grad_boxes
    python fuzz/fuzz_tf.py --replay fuzz/failures/crop_and_resize-seed1.json

For each operation (``crop_and_resize``, ``extract_glimpse_v2``, ``extract_glimpse_v1``,
``grad_image``, ``grad_boxes``) Hypothesis draws ``--cases`` calls (strategies in
``fuzz/fuzz_strategies.py``), runs each through TF (op determinism on: TF's CPU image
gradient otherwise adds its contributions in any order) and through every xcrop backend
and path the registry (``xcrop._dispatch.registry``) has for it:

* numpy and torch: ``fast`` (what the registry picks: the numba kernels where installed,
  for the crop and both gradients), ``fast_array`` (numba off through
  ``XCROP_NO_NUMBA=1``: the array-op fast paths of the crop and the gradients) and
  ``generic`` (``xcrop.use_generic()``, the array-API reference);
* array_api_strict: ``generic`` only (it has no fast path);
* eager JAX, x64 off (``jax``) and on (``jax_x64``): the same paths as numpy and torch.
  ``fast`` (numba on CPU views, nothing compiled) runs on every ``--jax-fast-every``-th
  case; ``fast_array`` and ``generic`` compile every new shape, so one of those targets
  in turn runs on every ``--jax-every``-th case;
* ``jax.jit`` of the whole call (every input traced), x64 off and on: ``jit:fast`` (the
  XLA FFI paths of ``xcrop._backends.jax_ffi``: the numba kernels as custom calls for
  the crop and glimpses, the FFI value checks plus the traced generic code for the
  gradients) and ``jit:generic`` (``xcrop.use_generic()``: the generic code, kept exact
  under XLA by its barriers). Every case compiles, so one of the four in turn runs on
  every ``--jit-every``-th case.

Which path actually served each call is recorded (the registry's choice, at trace time
under ``jax.jit``) and printed per target, so a ``fast`` row that fell back to the
generic code shows as such.

Judging reuses the conformance runner: outputs must be bit-identical (NaN positions and
the sign of zero included) except where ``xcrop.capabilities`` declares a bound; where
TF raises, xcrop must raise the exception ``expected_exception`` maps TF's to. A random
(uniform/gaussian) glimpse fill differs run to run in TF, so there only the copied
(in-image) elements must match, and the filled positions must equal TF's (found with a
zero-fill probe on an all-ones input).

Under ``jax.jit`` a value error (a box index outside the batch) cannot be a Python
exception: the program fails with JAX's runtime error carrying the eager call's message
(the FFI path checks inside its kernels, the generic path in a host callback), which
must match.

A mismatch makes Hypothesis shrink the case; the minimal one is printed as a runnable
snippet and saved to ``fuzz/failures/<op>-seed<seed>.json`` (replay with ``--replay``)
and as a fixture suite under ``fuzz/failures/fixtures/`` (the conformance format, ready
to be copied into ``conformance/fixtures``). The script prints per-operation case and
mismatch counts and exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import contextlib
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
    jit: bool = False  # the whole call under jax.jit (JAX adapters only)

    @property
    def name(self) -> str:
        return f"{self.adapter.name}/{'jit:' if self.jit else ''}{self.path}"

    @property
    def mode(self) -> str:
        """The mode as ``xcrop.capabilities`` names it."""
        return "jit" if self.jit else "eager"


def targets_for(op: str, backends: list[str], *, jit: bool = False) -> list[Target]:
    """The eager targets of ``op`` on ``backends`` (installed ones only), or with ``jit``
    the ``jax.jit`` targets of the JAX backends among them."""
    if op == "extract_glimpse_v1" or op == "extract_glimpse_v2":
        paths = ("fast", "generic")  # the eager glimpse fast paths do not use numba
    else:
        # The crop and both gradients: numba kernels, array-op fast paths, generic.
        paths = ("fast", "fast_array", "generic")
    out = []
    for name in backends:
        adapter = _ADAPTER[name]
        if adapter.skip_reason():
            continue
        if jit:
            if name.startswith("jax"):
                out += [Target(adapter, "fast", True), Target(adapter, "generic", True)]
            continue
        for path in (("generic",) if name == "array_api_strict" else paths):
            out.append(Target(adapter, path))
    return out


# --------------------------------------------------------------------------------------
# Which path served a call
# --------------------------------------------------------------------------------------

#: (operation, path name) of every dispatch since the last reset; None: not recording.
_served: list[tuple[str, str]] | None = None


def _install_path_recorder() -> None:
    """Wrap the registry's ``accepting`` so that every dispatch notes the path that
    served it: the last path it yielded (dispatch stops at the first that runs), or
    ``generic`` when none was yielded. Under ``jax.jit`` this is the trace's choice."""
    from xcrop._dispatch import registry

    original = registry.accepting
    if getattr(original, "_fuzz_recorder", False):
        return

    def accepting(operation: str, args: Any) -> Any:
        slot = None
        if _served is not None:
            _served.append((operation, registry.GENERIC))
            slot = len(_served) - 1
        for path in original(operation, args):
            if slot is not None and _served is not None:
                _served[slot] = (operation, path.name)
            yield path

    accepting._fuzz_recorder = True  # type: ignore[attr-defined]
    registry.accepting = accepting


def _first_input(case: Case) -> np.ndarray:
    return next(iter(case.inputs.values()))


def _jit_call(case: Case, adapter: Adapter) -> Any:
    """``call_case`` inside ``jax.jit``, every input of the case traced; a fresh function
    each time, so nothing is served from an earlier trace."""
    import jax

    keys = list(case.inputs)
    arrays = [adapter.asarray(case.inputs[k]) for k in keys]  # UnsupportedByBackend here

    def run(*traced: Any) -> Any:
        by_id = {id(case.inputs[k]): t for k, t in zip(keys, traced, strict=True)}
        # Arrays that are not inputs (call_case's dtype probe) convert as eagerly.
        return call_case(case, lambda a: by_id[id(a)] if id(a) in by_id
                         else adapter.asarray(a))

    return jax.block_until_ready(jax.jit(run)(*arrays))


def _call(case: Case, target: Target, served: list[str] | None = None) -> Any:
    global _served
    _served = []
    try:
        with target.adapter.active(), path_context(target.path):
            if target.jit:
                return _jit_call(case, target.adapter)
            return call_case(case, target.adapter.asarray)
    finally:
        if served is not None:
            mine = [name for op, name in _served if op == case.op]
            served.extend(mine[-1:])
        _served = None


#: What JAX raises for a failed custom call: JaxRuntimeError from the first call of a
#: jitted function, ValueError from later ones; xcrop's message at the end of both.
def _runtime_errors() -> tuple[type[BaseException], ...]:
    import jax

    return (jax.errors.JaxRuntimeError, ValueError)


def _judge_error(case: Case, target: Target, want: type[Exception],
                 served: list[str]) -> str | None:
    """Where TF raised: the call must raise ``want``; a jitted call may instead fail when
    it runs (a value error found by the kernel) with the eager call's message."""
    runtime = _runtime_errors() if target.jit else ()
    try:
        _call(case, target, served)
    except UnsupportedByBackend:
        return SKIPPED
    except want:
        return None
    except runtime as exc:
        return _judge_runtime_error(case, target, want, exc)
    except Exception as exc:
        return (f"raised {type(exc).__name__}: {exc}; TF raised {case.error['tf_type']} "
                f"({case.error['tf_summary']}), so {want.__name__} was expected")
    return f"returned a result; TF raised {case.error['tf_type']}: {case.error['tf_summary']}"


def _judge_runtime_error(case: Case, target: Target, want: type[Exception],
                         exc: Exception) -> str | None:
    eager = Target(target.adapter, target.path)
    try:
        _call(case, eager)
    except want as eager_exc:
        if str(eager_exc) in str(exc):
            return None
        return (f"failed when run with {type(exc).__name__}: {exc}; the eager call's "
                f"message is {eager_exc}")
    except Exception as eager_exc:
        return (f"failed when run with {type(exc).__name__}: {exc}; the eager call "
                f"raised {type(eager_exc).__name__}: {eager_exc}")
    return f"failed when run with {type(exc).__name__}: {exc}; the eager call did not"


def judge(case: Case, target: Target, tf_mask: np.ndarray | None,
          tf_probe: np.ndarray | None, probe: Case | None,
          served: list[str] | None = None) -> str | None:
    """None if ``target`` agrees with TF on ``case``, SKIPPED if the backend cannot hold
    its inputs, else a
    description of the mismatch. The serving path's name is appended to ``served``."""
    adapter = target.adapter
    served = [] if served is None else served
    if case.check == "error":
        return _judge_error(case, target, expected_exception(case), served)
    try:
        first = adapter.asarray(_first_input(case))
        raw = _call(case, target, served)
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
    bound = max_ulp(adapter.library, adapter.device_kind, case.op, target.mode)
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
    jax_cases: int = 0  # cases that ran a sampled eager JAX target
    jit_cases: int = 0  # cases that ran a jax.jit target
    mismatches: int = 0
    # Per target: (case, target) runs, and how many were skipped (the backend cannot
    # hold an input).
    target_runs: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    # Per target: how often each path served (the registry's choice).
    served: dict[str, dict[str, int]] = field(default_factory=dict)
    target_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    failure: tuple[Case, list[str]] | None = None
    failure_file: str = ""
    time_up: bool = False

    def judged(self, target: str) -> int:
        return self.target_runs.get(target, 0) - self.skipped.get(target, 0)


@dataclass
class Plan:
    """Which targets run on which case."""

    every_case: list[Target]  # numpy, torch, array_api_strict
    jax_fast: list[Target]  # eager JAX on its fast path: all of them, every k-th case
    jax_fast_every: int
    jax_rest: list[Target]  # eager JAX fast_array/generic: one in turn, every k-th case
    jax_every: int
    jit: list[Target]  # jax.jit: one in turn, every k-th case
    jit_every: int

    @classmethod
    def make(cls, op: str, backends: list[str], jax_fast_every: int, jax_every: int,
             jit_every: int) -> Plan:
        plain = [b for b in backends if not b.startswith("jax")]
        jax_eager = targets_for(op, [b for b in backends if b.startswith("jax")])
        return cls(targets_for(op, plain),
                   [t for t in jax_eager if t.path == "fast"], jax_fast_every,
                   [t for t in jax_eager if t.path != "fast"], jax_every,
                   targets_for(op, backends, jit=True), jit_every)

    @classmethod
    def everything(cls, op: str, backends: list[str]) -> Plan:
        """Every target on every case (``--replay``)."""
        plain = targets_for(op, backends) + targets_for(op, backends, jit=True)
        return cls(plain, [], 0, [], 0, [], 0)


def _case_key(case: Case) -> int:
    # By a hash of the case, not a counter, so a shrinking run sees the same choice.
    return zlib.crc32(repr((case.op, case.api, sorted(case.params.items()),
                            [(v.dtype.name, v.shape) for v in case.inputs.values()]))
                      .encode())


def _one_in_turn(key: int, targets: list[Target], every: int, salt: int) -> list[Target]:
    if not targets or every <= 0:
        return []
    key = zlib.crc32(salt.to_bytes(4, "little"), key)
    if key % every:
        return []
    return [targets[(key // every) % len(targets)]]


def check_case(tf: Any, pending: Case, plan: Plan, stats: Stats) -> list[str]:
    """Run one case through TF and the targets the plan gives it; return the mismatches."""
    case = run_tf(tf, pending, "case")
    tf_mask = tf_probe = probe = None
    if case.check == "error":
        stats.tf_errors += 1
    elif is_random_fill(case):
        stats.random_fill += 1
        probe = run_tf(tf, probe_case(case), "probe")
        tf_probe = np.asarray(probe.expected)
        tf_mask = tf_probe == 0
    key = _case_key(case)
    chosen = list(plan.every_case)
    if plan.jax_fast_every > 0 and key % plan.jax_fast_every == 0:
        chosen += plan.jax_fast
    sampled = _one_in_turn(key, plan.jax_rest, plan.jax_every, 1)
    stats.jax_cases += bool(sampled)
    jitted = _one_in_turn(key, plan.jit, plan.jit_every, 2)
    stats.jit_cases += bool(jitted)
    problems = []
    for target in chosen + sampled + jitted:
        served: list[str] = []
        t0 = time.perf_counter()
        verdict = judge(case, target, tf_mask, tf_probe, probe, served)
        name = target.name
        stats.target_seconds[name] = (stats.target_seconds.get(name, 0.0)
                                      + time.perf_counter() - t0)
        stats.target_runs[name] = stats.target_runs.get(name, 0) + 1
        for path in served:
            tally = stats.served.setdefault(name, {})
            tally[path] = tally.get(path, 0) + 1
        if verdict == SKIPPED:
            stats.skipped[name] = stats.skipped.get(name, 0) + 1
        elif verdict is not None:
            problems.append(f"{name}: {verdict}")
    if problems:
        stats.failure = (case, problems)
    return problems


def fuzz_op(tf: Any, op: str, n: int, seed: int, plan: Plan, progress: bool,
            max_seconds: float | None = None) -> Stats:
    stats = Stats(op)
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
        problems = check_case(tf, pending, plan, stats)
        if problems and not failed_at:
            failed_at.append(stats.calls)
        if progress and not failed_at and stats.calls % 250 == 0:
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
    problems = check_case(tf, pending, Plan.everything(record["fuzz_op"], backends), stats)
    print(snippet(pending))
    for p in problems:
        print("MISMATCH", p)
    print("no mismatch" if not problems else f"{len(problems)} mismatching target(s)")
    return 1 if problems else 0


def print_stats(stats: Stats) -> None:
    print(f"{stats.op:20s} cases {stats.cases:6d}  mismatches {stats.mismatches}  "
          f"TF errors {stats.tf_errors}  random fills {stats.random_fill}  "
          f"eager JAX sampled {stats.jax_cases}  jit {stats.jit_cases}  "
          f"{stats.seconds:.0f} s" + ("  (stopped by --max-seconds)" if stats.time_up else ""),
          flush=True)
    for name in sorted(stats.target_runs):
        served = ", ".join(f"{path} {n}" for path, n in sorted(stats.served.get(name, {})
                                                                .items()))
        print(f"    {name:26s} runs {stats.target_runs[name]:6d}  judged "
              f"{stats.judged(name):6d}  skipped {stats.skipped.get(name, 0):5d}  "
              f"{stats.target_seconds.get(name, 0.0):6.0f} s  served by: {served or '-'}",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per operation")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed")
    parser.add_argument("--op", action="append", choices=OPS,
                        help="operation to fuzz (repeatable; default: all)")
    parser.add_argument("--backend", action="append",
                        choices=["numpy", "torch", "array_api_strict", "jax", "jax_x64"],
                        help="backend (repeatable; default: all installed; jax and "
                             "jax_x64 include their jax.jit targets)")
    parser.add_argument("--jax-fast-every", type=int, default=1,
                        help="eager JAX fast paths (x64 off and on) on one case in this "
                             "many (0: never)")
    parser.add_argument("--jax-every", type=int, default=50,
                        help="one eager JAX fast_array/generic target on one case in this "
                             "many (0: never)")
    parser.add_argument("--jit-every", type=int, default=10,
                        help="one jax.jit target (FFI or generic, x64 off or on) on one "
                             "case in this many (0: never)")
    parser.add_argument("--max-seconds", type=float,
                        help="stop each operation after this long (reported as such)")
    parser.add_argument("--replay", type=Path, help="re-run a saved failure JSON")
    parser.add_argument("--report", type=Path,
                        help="also write the per-operation counts to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    # Compile (or load) every numba kernel now: on first use they build in the background
    # while the array paths serve, and the "fast" rows must time and check the kernels.
    from xcrop._backends.numba import loader

    loader.compile_kernels(progress=lambda m: print(m, file=sys.stderr, flush=True))

    import tensorflow as tf

    # TF's CPU image gradient adds its contributions in any order (threads) otherwise.
    tf.config.experimental.enable_op_determinism()
    backends = args.backend or ["numpy", "torch", "array_api_strict", "jax", "jax_x64"]
    if "torch" in backends:
        import torch

        torch.set_num_threads(1)
    _install_path_recorder()
    if args.replay:
        return replay(tf, args.replay, backends)

    import xcrop

    versions = {"xcrop": xcrop.__version__, "tensorflow": tf.__version__,
                "numpy": np.__version__}
    for lib in ("torch", "jax", "numba", "array_api_strict", "hypothesis"):
        with contextlib.suppress(ImportError):
            versions[lib] = __import__(lib).__version__
    print(f"xcrop differential fuzz vs TensorFlow {tf.__version__}: {args.cases} cases per "
          f"operation, seed {args.seed}; "
          + ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)
    all_stats = []
    for op in args.op or OPS:
        plan = Plan.make(op, backends, args.jax_fast_every, args.jax_every, args.jit_every)
        stats = fuzz_op(tf, op, args.cases, args.seed, plan, progress=not args.quiet,
                        max_seconds=args.max_seconds)
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
        print_stats(stats)
        if args.report:
            args.report.write_text(json.dumps({
                "argv": sys.argv[1:] if argv is None else argv, "versions": versions,
                "seed": args.seed,
                "ops": [{k: v for k, v in vars(st).items() if k != "failure"}
                        for st in all_stats],
            }, indent=1))
    total = sum(s.mismatches for s in all_stats)
    print(f"total: {sum(s.cases for s in all_stats)} cases, {total} mismatching operation(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
