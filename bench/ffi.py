"""Traced JAX on CPU before and after the XLA FFI paths (``xcrop._backends.jax_ffi``).

    PYTHONPATH=src python bench/ffi.py [--repeats 7]

Per workload (``bench.py``'s RoI head, small crops and uniform glimpse; the RoI-head
training step of ``train.py`` under ``jax.jit(jax.grad)``): TF 2.21 where installed,
``jax.jit`` of the generic path (before: ``xcrop.use_generic()`` while tracing), ``jax.jit``
through the FFI path (after), and the eager JAX fast path. Each runner is compiled and
called once first; then the runners are called in turn, ``--repeats`` rounds, and the
medians are printed (ratio = TF median / runner median). Last: the fixed cost of one
jitted FFI call on a tiny input, beside a jitted ``x + 1``.

TF and JAX need not share an environment: ``--tf-python PATH`` times TF first, in a
subprocess of that interpreter (``--tf-only``), with the same workloads and repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from bench import forward_workloads

import xcrop


def _runners(w: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    import jax.numpy as jnp

    if w["op"] == "crop":
        args = (jnp.asarray(w["image"]), jnp.asarray(w["boxes"]), jnp.asarray(w["idx"]))

        def call(i: Any, b: Any, x: Any) -> Any:
            return xcrop.crop_and_resize(i, b, x, w["size"])
    else:
        args = (jnp.asarray(w["image"]), jnp.asarray(w["offsets"]))

        def call(i: Any, o: Any) -> Any:
            return xcrop.extract_glimpse(i, w["size"], o, noise=w["noise"], seed=1)
    return _variants(call, args, w)


def _variants(call: Callable[..., Any], args: tuple[Any, ...],
              w: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    import jax

    # Separate function objects: jax.jit caches traces per function, not per use_generic().
    with xcrop.use_generic():
        before = jax.jit(lambda *a: call(*a)).lower(*args).compile()
    after = jax.jit(lambda *a: call(*a)).lower(*args).compile()
    out = {}
    tf = _tf(w)
    if tf is not None:
        out["tf"] = tf
    out["jit generic (before)"] = lambda: jax.block_until_ready(before(*args))
    out["jit FFI (after)"] = lambda: jax.block_until_ready(after(*args))
    if w.get("eager", True):
        out["eager fast path"] = lambda: jax.block_until_ready(call(*args))
    return out


def _tf(w: dict[str, Any]) -> Callable[[], Any] | None:
    try:
        import tensorflow as tf
    except ImportError:
        return None
    if w["op"] == "crop":
        a = [tf.constant(w[k]) for k in ("image", "boxes", "idx")]
        return lambda: tf.image.crop_and_resize(*a, w["size"]).numpy()
    if w["op"] == "glimpse":
        a = [tf.constant(w[k]) for k in ("image", "offsets")]
        return lambda: tf.image.extract_glimpse(a[0], w["size"], a[1], noise=w["noise"]).numpy()
    return None


def _train_runners() -> dict[str, Callable[[], Any]]:
    import jax
    import jax.numpy as jnp

    w = forward_workloads()["roi_head"]
    args = (jnp.asarray(w["image"]), jnp.asarray(w["boxes"]))
    idx = jnp.asarray(w["idx"])

    def loss(i: Any, b: Any) -> Any:
        return (xcrop.crop_and_resize(i, b, idx, w["size"]) ** 2).sum()

    step = jax.grad(loss, argnums=(0, 1))
    out = _variants(step, args, dict(op="train", eager=False))
    try:
        return {"tf": _tf_train(), **out}
    except ImportError:
        return out


def _median(runners: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    for run in runners.values():
        run()
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeats):
        for k, run in runners.items():
            t = time.perf_counter()
            run()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def _report(name: str, medians: dict[str, float]) -> None:
    tf = medians.get("tf")
    print(f"\n{name}")
    for k, m in medians.items():
        ratio = f"  {tf / m:5.2f}x TF" if tf and k != "tf" else ""
        print(f"  {k:24s} {m * 1e3:10.3f} ms{ratio}")


def _overhead(repeats: int) -> None:
    import jax
    import jax.numpy as jnp

    image = jnp.ones((1, 2, 2, 1), jnp.float32)
    boxes = jnp.asarray([[0.0, 0.0, 1.0, 1.0]], jnp.float32)
    idx = jnp.zeros(1, jnp.int32)
    crop = jax.jit(lambda i, b, x: xcrop.crop_and_resize(i, b, x, (1, 1)))
    plus = jax.jit(lambda i: i + 1)
    runs = {"jit FFI crop (1 box, 1x1)": lambda: jax.block_until_ready(crop(image, boxes, idx)),
            "jit x + 1 (same input)": lambda: jax.block_until_ready(plus(image))}
    for run in runs.values():
        run()
    print("\nper-call cost on a tiny input (median of", repeats, "x 2000 calls)")
    for k, run in runs.items():
        samples = []
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(2000):
                run()
            samples.append((time.perf_counter() - t) / 2000)
        print(f"  {k:28s} {statistics.median(samples) * 1e6:8.1f} us")


FORWARD = ("roi_head", "small_crops", "glimpse_uniform")
TRAIN = "train_roi_head: jax.jit(jax.grad) (forward and both gradients)"


def _tf_only(opts: argparse.Namespace) -> None:
    works = forward_workloads()
    out = {name: _median({"tf": _tf(works[name])}, opts.repeats)["tf"] for name in FORWARD}
    out[TRAIN] = _median({"tf": _tf_train()}, opts.train_repeats)["tf"]
    print(json.dumps(out))


def _tf_train() -> Callable[[], Any]:
    import tensorflow as tf

    w = forward_workloads()["roi_head"]
    ti, tb, tx = (tf.constant(w[k]) for k in ("image", "boxes", "idx"))

    def step() -> Any:
        with tf.GradientTape() as tape:
            tape.watch([ti, tb])
            y = tf.reduce_sum(tf.image.crop_and_resize(ti, tb, tx, w["size"]) ** 2)
        return [g.numpy() for g in tape.gradient(y, [ti, tb])]

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--train-repeats", type=int, default=3)
    parser.add_argument("--tf-python", help="an interpreter with TensorFlow, run first")
    parser.add_argument("--tf-only", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.tf_only:
        _tf_only(opts)
        return
    tf: dict[str, float] = {}
    if opts.tf_python:
        cmd = [opts.tf_python, __file__, "--tf-only", "--repeats", str(opts.repeats),
               "--train-repeats", str(opts.train_repeats)]
        tf = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                       text=True).stdout.splitlines()[-1])
    works = forward_workloads()
    for name in FORWARD:
        medians = _median(_runners(works[name]), opts.repeats)
        _report(name, {"tf": tf[name], **medians} if name in tf else medians)
    medians = _median(_train_runners(), opts.train_repeats)
    _report(TRAIN, {"tf": tf[TRAIN], **medians} if TRAIN in tf else medians)
    _overhead(opts.repeats)


if __name__ == "__main__":
    main()
