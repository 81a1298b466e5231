"""Training-step workloads of the benchmark: forward crop plus TF's two gradients.

A training step here is ``loss = sum(crop_and_resize(image, boxes, ...) * upstream)``
and its gradient with respect to the image and the boxes (the boxes only for the uint8
augmentation images: TF has no image gradient for integer images):

* ``tf``: ``tf.GradientTape`` (TF's default, multi-threaded gradient kernels);
* ``numpy/<path>``: the forward call and the two public gradient functions;
* ``torch/<path>``: ``loss.backward()`` through autograd;
* ``jax/<path>``: ``jax.grad`` eagerly; ``jax/jit``: ``jax.jit(jax.grad(...))`` (on CPU
  the XLA FFI custom calls), ``jax/jit/generic``: the same traced on the generic path.

Imported by bench.py (``--suite train``), which times and reports them like the forward
workloads.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import xcrop
from xcrop import capabilities

Runner = tuple[Callable[[], Any], bool, str]


def train_workloads(boxes: Callable[..., np.ndarray]) -> dict[str, dict[str, Any]]:
    """The RoI head, small crops and augmentation shapes of the forward benchmark."""
    rng = np.random.default_rng(1)
    out = {
        "train_roi_head": dict(image=rng.standard_normal((2, 50, 76, 256), np.float32),
                               boxes=boxes(rng, 300),
                               idx=rng.integers(0, 2, 300, dtype=np.int32), size=(14, 14)),
        "train_small_crops": dict(image=rng.standard_normal((4, 128, 128, 3), np.float32),
                                  boxes=boxes(rng, 2000),
                                  idx=rng.integers(0, 4, 2000, dtype=np.int32),
                                  size=(24, 24)),
        "train_augmentation": dict(
            image=rng.integers(0, 256, (16, 384, 384, 3), dtype=np.uint8),
            boxes=boxes(rng, 16, -0.1, 1.1), idx=np.arange(16, dtype=np.int32),
            size=(224, 224)),
    }
    for w in out.values():
        n, (ch, cw), depth = w["boxes"].shape[0], w["size"], w["image"].shape[3]
        w["op"] = "train"
        w["upstream"] = rng.standard_normal((n, ch, cw, depth), np.float32)
        w["image_grad"] = w["image"].dtype.kind == "f"
    return out


def _tf_runner(w: dict[str, Any]) -> Runner | None:
    try:
        import tensorflow as tf
    except ImportError:
        print("tensorflow not installed: no TF column", file=sys.stderr)
        return None
    image, boxes, idx, g = (tf.constant(w[k]) for k in ("image", "boxes", "idx", "upstream"))
    sources = [image, boxes] if w["image_grad"] else [boxes]

    def step() -> Any:
        with tf.GradientTape() as tape:
            tape.watch(sources)
            loss = tf.reduce_sum(tf.image.crop_and_resize(image, boxes, idx, w["size"]) * g)
        return [t.numpy() for t in tape.gradient(loss, sources)]

    return step, False, "TF GradientTape"


def _numpy_step(w: dict[str, Any]) -> Callable[[], Any]:
    image, boxes, idx, g, size = w["image"], w["boxes"], w["idx"], w["upstream"], w["size"]

    def step() -> Any:
        xcrop.crop_and_resize(image, boxes, idx, size)
        grad_boxes = xcrop.crop_and_resize_grad_boxes(g, image, boxes, idx)
        if not w["image_grad"]:
            return grad_boxes
        return grad_boxes, xcrop.crop_and_resize_grad_image(g, boxes, idx, image.shape,
                                                            dtype=image.dtype)

    return step


def _torch_step(w: dict[str, Any]) -> Callable[[], Any]:
    import torch

    g, idx = torch.from_numpy(w["upstream"]), torch.from_numpy(w["idx"])

    def step() -> Any:
        image = torch.from_numpy(w["image"]).requires_grad_(w["image_grad"])
        boxes = torch.from_numpy(w["boxes"]).requires_grad_(True)
        (xcrop.crop_and_resize(image, boxes, idx, w["size"]) * g).sum().backward()
        return boxes.grad, image.grad

    return step


def _jax_steps(w: dict[str, Any],
               serving: Callable[[str], Any]) -> tuple[Callable[[], Any], ...]:
    """Eager ``jax.grad``, ``jax.jit(jax.grad)`` and the latter traced on the generic path
    (its own jitted function: jit caches a trace per function, not per xcrop path)."""
    import jax

    image, boxes, idx, g = (jax.device_put(w[k]) for k in ("image", "boxes", "idx", "upstream"))

    def loss(image: Any, boxes: Any) -> Any:
        return (xcrop.crop_and_resize(image, boxes, idx, w["size"]) * g).sum()

    grad = jax.grad(loss, argnums=(0, 1) if w["image_grad"] else 1)
    jitted = jax.jit(grad)
    jitted_generic = jax.jit(lambda image, boxes: grad(image, boxes))

    def generic() -> Any:
        with serving("generic"):
            return jax.block_until_ready(jitted_generic(image, boxes))

    return (lambda: jax.block_until_ready(grad(image, boxes)),
            lambda: jax.block_until_ready(jitted(image, boxes)), generic)


def train_runners(w: dict[str, Any],
                  serving: Callable[[str], Any]) -> dict[str, Runner]:
    """name -> (call, memory measured by tracemalloc?, path label)."""
    out: dict[str, Runner] = {}
    tf_runner = _tf_runner(w)
    if tf_runner is not None:
        out["tf"] = tf_runner
    steps: list[tuple[str, Callable[[], Any]]] = [("numpy", _numpy_step(w))]
    with contextlib.suppress(ImportError):
        steps.append(("torch", _torch_step(w)))
    try:
        eager, jitted, jitted_generic = _jax_steps(w, serving)
        steps.append(("jax", eager))
        out["jax/jit"] = (jitted, False, "jax.jit(jax.grad): XLA FFI custom calls "
                          "(numba kernels) on CPU")
        out["jax/jit/generic"] = (jitted_generic, False, "jax.jit(jax.grad): generic")
    except ImportError:
        pass
    grads = ("crop_and_resize_grad_image", "crop_and_resize_grad_boxes")
    for lib, step in steps:
        for path in ("fast", "generic"):
            def run(step: Callable[[], Any] = step, path: str = path) -> Any:
                with serving(path):
                    return step()

            names = capabilities.fast_path_names
            label = ("generic" if path == "generic" else
                     "; ".join(f"{op.split('_')[-1]}: {(names(op, lib) or ('generic',))[0]}"
                               for op in grads))
            out[f"{lib}/{path}"] = (run, lib == "numpy", label)
    return out
