"""The crop and glimpse handlers split a large call into parts on XLA's intra-op thread
pool (``xcrop._backends.numba.ffi_parallel``, docs/performance.md "Threads under
jax.jit").

Expected values: the eager NumPy path (conformance-tested against TF), bit for bit, and
its error messages. The sizes are chosen so that part boundaries fall inside a ``vmap``
example and, for glimpses, inside one batch element's rows.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import xcrop
from backends import require_ffi

require_ffi()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from xcrop._backends.numba import ffi_crop, ffi_glimpse, ffi_parallel  # noqa: E402

RUNTIME_ERRORS = (jax.errors.JaxRuntimeError, ValueError)
RNG = np.random.default_rng(29)
V, N, CROP, DEPTH = 3, 7, (40, 40), 32  # 3 * 7 * 40 * 40 * 32 = 16 parts' worth
IMAGE = RNG.standard_normal((2, 30, 26, DEPTH)).astype(np.float32)
BOXES = RNG.uniform(-0.2, 1.2, (V, N, 4)).astype(np.float32)
INDICES = RNG.integers(0, 2, (V, N)).astype(np.int32)
GLIMPSE_IMAGES = RNG.standard_normal((V, 3, 50, 45, 24)).astype(np.float32)
OFFSETS = RNG.uniform(-1.5, 1.5, (V, 3, 2)).astype(np.float32)


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32))


def _crop(image, boxes, indices):
    return xcrop.crop_and_resize(image, boxes, indices, CROP)


def _glimpse(images, offsets):
    return xcrop.extract_glimpse(images, (37, 41), offsets, noise="uniform", seed=11)


def _vmapped_crop(boxes=BOXES, indices=INDICES):
    return jax.jit(jax.vmap(_crop, in_axes=(None, 0, 0)))(
        jnp.asarray(IMAGE), jnp.asarray(boxes), jnp.asarray(indices))


def _vmapped_glimpse():
    return jax.jit(jax.vmap(_glimpse))(jnp.asarray(GLIMPSE_IMAGES), jnp.asarray(OFFSETS))


def test_the_calls_are_large_enough_to_split() -> None:
    assert V * N * CROP[0] * CROP[1] * DEPTH >= 8 * ffi_parallel.MIN_PART
    assert V * 3 * 37 * 41 * 24 >= 2 * ffi_parallel.MIN_PART


def test_split_calls_give_the_eager_bits() -> None:
    crops, glimpses = _vmapped_crop(), _vmapped_glimpse()
    for v in range(V):
        assert _same(crops[v], _crop(IMAGE, BOXES[v], INDICES[v]))
        assert _same(glimpses[v], _glimpse(GLIMPSE_IMAGES[v], OFFSETS[v]))


def test_without_tasks_the_handler_runs_every_part_itself() -> None:
    expected = (_vmapped_crop(), _vmapped_glimpse())  # compiles, publishes the tasks
    slots = [slot for _, slot in ffi_crop.TASKS.values()] + [ffi_glimpse.SLOT]
    saved = [ffi_parallel.published(slot) for slot in slots]
    before = ffi_parallel.parts_run_by_tasks()
    try:
        for slot in slots:
            ffi_parallel.set_task(slot, 0)
        got = (_vmapped_crop(), _vmapped_glimpse())
        assert ffi_parallel.parts_run_by_tasks() == before
    finally:
        for slot, address in zip(slots, saved, strict=True):
            ffi_parallel.set_task(slot, address)
    assert _same(got[0], expected[0]) and _same(got[1], expected[1])


@pytest.mark.skipif((os.cpu_count() or 1) < 2,
                    reason="XLA's intra-op pool has one thread on a one-core machine")
def test_tasks_on_xlas_pool_run_parts() -> None:
    before = ffi_parallel.parts_run_by_tasks()
    for _ in range(50):  # a task that starts late finds no part left: try again
        jax.block_until_ready(_vmapped_crop())
        if ffi_parallel.parts_run_by_tasks() > before:
            return
    pytest.fail("no part of 50 split calls ran on XLA's thread pool")


def test_a_bad_box_in_a_later_part_is_named_as_the_eager_call_names_it() -> None:
    # Example 1's boxes 3-6 fall in the second part (of 2 or more): the part numbers them
    # from 0, the message must count from the example's first box.
    indices = INDICES.copy()
    indices[1, 5] = 9
    with pytest.raises(xcrop.InvalidArgumentError) as eager:
        _crop(IMAGE, BOXES[1], indices[1])
    with pytest.raises(RUNTIME_ERRORS, match=re.escape(str(eager.value))):
        jax.block_until_ready(_vmapped_crop(indices=indices))


def test_the_first_example_with_a_bad_box_wins() -> None:
    # A non-finite box in example 0's part and an index error in a later example's:
    # the examples are checked in order, as a loop of eager calls would.
    boxes, indices = BOXES.copy(), INDICES.copy()
    boxes[0, 6, 2] = np.nan
    indices[2, 1] = -1
    with pytest.raises(xcrop.InvalidArgumentError) as eager:
        _crop(IMAGE, boxes[0], indices[0])
    with pytest.raises(RUNTIME_ERRORS, match=re.escape(str(eager.value))):
        jax.block_until_ready(_vmapped_crop(boxes, indices))
