"""xcrop's torch custom operators (``xcrop::*``, src/xcrop/_frameworks/torch_ops.py):
opcheck, every forward fixture through ``torch.compile(fullgraph=True)`` and through
``torch.export``, TF's gradient bits through the compiled backward, value errors at run
time under compile, deterministic algorithms. CUDA variants skip with their reason.

Compile cost: one compiled function per public entry point, with ``dynamic=True`` so
that sizes do not recompile; dtypes, strings, flags and floats (the fill value) still do
(dynamo specializes them), at about a second per recompile here. The default run
therefore takes a spread of the cases (every 24th, the first of every suite, dtype and
common recompile key, one error case per suite), every 16th case for export, and for
the compiled backward every 24th gradient case plus the first of each suite, operation,
method and dtype; ``XCROP_TORCH_OPS=all`` runs every case everywhere. The bulk runs on
the ``aot_eager`` backend (dynamo, fake kernels and AOT autograd, as inductor gets them:
the operators are opaque to inductor); one case per suite runs on inductor.

Known dynamo limitation (docs/api.md): a float *argument* of a compiled function is
guarded with ``==``, so ``-0.0`` reuses a graph specialized for ``0.0`` (a fill of
the wrong sign of zero); a ``-0.0`` literal in the compiled code keeps its sign. The two
fixtures with a ``-0.0`` fill are left out of the compiled runs
(tests/test_conformance.py runs them eagerly).
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import xcrop  # noqa: E402  (after torch: the operators are registered at import)
from _gpu import torch_cuda_skip_reason  # noqa: E402
from xcrop._core.errors import BoxIndexError, InvalidArgumentError  # noqa: E402
from xcrop._core.validation import validate_crop_and_resize  # noqa: E402
from xcrop.capabilities import max_ulp  # noqa: E402
from xcrop.conformance import load_all  # noqa: E402
from xcrop.conformance._runner import (  # noqa: E402
    call_case,
    expected_exception,
    judge_exact,
    judge_fill,
)

CASES = load_all()
FORWARD = ("crop_and_resize", "extract_glimpse")
GRADIENTS = ("crop_and_resize_grad_image", "crop_and_resize_grad_boxes")
SUITES = sorted({c.suite for c in CASES})
OPS = ("crop_and_resize", "extract_glimpse", *GRADIENTS)
ALL = os.environ.get("XCROP_TORCH_OPS") == "all"

#: The public functions call_case reaches (module, attribute).
ENTRY_POINTS = ((xcrop, "crop_and_resize"), (xcrop, "extract_glimpse"),
                (xcrop.compat.v1, "crop_and_resize"), (xcrop.compat.v1, "extract_glimpse"))
ORIGINAL = {(m.__name__, n): getattr(m, n) for m, n in ENTRY_POINTS}


def _tensor(a: np.ndarray) -> Any:
    return torch.from_numpy(np.array(a))  # a copy, as the conformance adapter makes


def _judge(case: Any, out: Any) -> None:
    got = out.detach().numpy()
    if case.check == "fill_stats":
        # judge_fill calls xcrop on NumPy arrays: never through a compiled entry point
        with torch.compiler.set_stance("force_eager"):
            ok, msg = judge_fill(case, got)
    else:
        ok, _, msg = judge_exact(got, np.asarray(case.expected), max_ulp("torch", "cpu", case.op))
    assert ok, f"{case.key}: {case.description}: {msg}"


def _negative_zero_fill(case: Any) -> bool:
    fill = case.params.get("extrapolation_value", 1.0)
    return fill == 0 and math.copysign(1.0, fill) < 0


@contextlib.contextmanager
def _compiled(monkeypatch: pytest.MonkeyPatch, backend: str) -> Iterator[None]:
    """The public entry points replaced by their compiled versions (fullgraph)."""
    torch._dynamo.reset()
    with torch._dynamo.config.patch(recompile_limit=512, accumulated_recompile_limit=4096):
        for module, name in ENTRY_POINTS:
            fn = ORIGINAL[module.__name__, name]
            monkeypatch.setattr(module, name, torch.compile(fn, fullgraph=True, dynamic=True,
                                                            backend=backend))
        yield
    torch._dynamo.reset()


# ----------------------------------------------------------------------------------------
# registration and opcheck
# ----------------------------------------------------------------------------------------

def test_operators_registered_with_their_schemas() -> None:
    from xcrop._frameworks.torch_ops import SCHEMAS

    for name, schema in SCHEMAS.items():
        op = getattr(torch.ops.xcrop, name).default
        assert str(op._schema) == f"xcrop::{name}{schema}"


def _opcheck_args(case: Any) -> tuple[Any, ...]:
    """The operator's arguments for one fixture (as the public function passes them)."""
    t = {k: _tensor(v) for k, v in case.inputs.items()}
    p = case.params
    if case.op == "crop_and_resize":
        a = validate_crop_and_resize(t["image"], t["boxes"], t["box_indices"], p["crop_size"],
                                     p.get("method", "bilinear"),
                                     p.get("extrapolation_value", 0.0), values=False)
        image = a.image.requires_grad_(a.image.is_floating_point())
        return (image, a.boxes.requires_grad_(True), a.box_indices, a.crop_height,
                a.crop_width, a.method, a.extrapolation_value)
    if case.op == "extract_glimpse":
        noise = p.get("noise", "uniform") or "gaussian"
        if p.get("uniform_noise"):
            noise = "uniform"
        return (t["input"].float(), t["offsets"].float(), *p["size"],
                p.get("centered", True), p.get("normalized", True), noise,
                1 if case.api == "v1" else 2, 0)
    if case.op == "crop_and_resize_grad_image":
        return (t["grads"], t["boxes"], t["box_indices"], list(p["image_shape"]),
                p["method"], getattr(torch, p["T"]))
    return (t["grads"], t["image"], t["boxes"], t["box_indices"])


def _opcheck_sample() -> list[Any]:
    """Per operator and suite, the first two recorded successes."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for case in CASES:
        if case.check == "error":
            continue
        key = (case.op, case.suite)
        if seen.get(key, 0) < 2:
            seen[key] = seen.get(key, 0) + 1
            out.append(pytest.param(case, id=case.key))
    return out


@pytest.mark.parametrize("case", _opcheck_sample())
def test_opcheck(case: Any) -> None:
    op = getattr(torch.ops.xcrop, case.op).default
    result = torch.library.opcheck(op, _opcheck_args(case))
    assert set(result.values()) == {"SUCCESS"}, result


def test_opcheck_covers_every_operator() -> None:
    assert {p.values[0].op for p in _opcheck_sample()} == set(OPS)


# ----------------------------------------------------------------------------------------
# every forward fixture through torch.compile(fullgraph=True)
# ----------------------------------------------------------------------------------------

def _forward_cases(suite: str | None = None) -> list[Any]:
    return [c for c in CASES if c.op in FORWARD and (suite is None or c.suite == suite)]


def _compile_key(case: Any) -> tuple[Any, ...]:
    """What dynamo specializes a forward call on (sizes are dynamic)."""
    p = dict(case.params)
    for size in ("crop_size", "size"):
        p.pop(size, None)
    dtypes = tuple(str(v.dtype) for v in case.inputs.values())
    return (case.op, case.api, dtypes, repr(sorted(p.items())))


def _compile_sample(op: str) -> list[Any]:
    """Every case with ``XCROP_TORCH_OPS=all``; else every 24th, the first of each suite,
    dtype and recompile key shared by ten cases or more, and one error case per suite."""
    cases = [c for c in _forward_cases() if c.op == op]
    if ALL:
        return cases
    counts = Counter(_compile_key(c) for c in cases if c.check != "error")
    seen: set[Any] = set()
    out = []
    for i, c in enumerate(cases):
        dtype = str(next(iter(c.inputs.values())).dtype)
        key = _compile_key(c)
        marks = [("suite", c.suite, c.check == "error")]
        if c.check != "error":
            marks += [("dtype", dtype)] + ([key] if counts[key] >= 10 else [])
        new = [m for m in marks if m not in seen]
        if new or (i % 24 == 0 and c.check != "error"):
            seen.update(new)
            out.append(c)
    return out


def _run_forward(case: Any) -> None:
    if case.check == "error":
        # A check that reads no value fails while dynamo traces (fullgraph: dynamo's
        # "Observed exception"); a value check fails when the program runs.
        # (tests/test_conformance.py checks the exception of every eager call)
        with pytest.raises((expected_exception(case), torch._dynamo.exc.Unsupported)):
            call_case(case, _tensor)
        return
    _judge(case, call_case(case, _tensor))


@pytest.mark.parametrize("op", FORWARD)
def test_forward_fixtures_compiled(op: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _compile_sample(op)
    assert {c.suite for c in cases} == {c.suite for c in _forward_cases() if c.op == op}
    with _compiled(monkeypatch, "aot_eager"):
        for case in cases:
            if not _negative_zero_fill(case):  # (see the module's docstring)
                _run_forward(case)


@pytest.mark.parametrize("suite", [s for s in SUITES
                                   if any(c.check != "error" for c in _forward_cases(s))])
def test_one_fixture_per_suite_on_inductor(suite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in _forward_cases(suite) if c.check != "error")
    with _compiled(monkeypatch, "inductor"):
        _run_forward(case)


def test_value_error_raised_when_the_compiled_program_runs() -> None:
    f = torch.compile(lambda i, b, n: xcrop.crop_and_resize(i, b, n, (3, 4)),
                      fullgraph=True, dynamic=True)
    image, boxes = torch.rand(2, 5, 6, 3), torch.rand(3, 4)
    assert f(image, boxes, torch.tensor([0, 1, 1])).shape == (3, 3, 4, 3)
    with pytest.raises(BoxIndexError, match=r"box_indices\[1\] = 2"):
        f(image, boxes, torch.tensor([0, 2, 1]))
    boxes[2, 1] = math.inf
    with pytest.raises(InvalidArgumentError, match="finite"):
        f(image, boxes, torch.tensor([0, 1, 1]))


# ----------------------------------------------------------------------------------------
# torch.export: programs with xcrop:: operators, same bits
# ----------------------------------------------------------------------------------------

class _Call(torch.nn.Module):
    """One fixture's call with its non-tensor arguments fixed (they are constants of an
    exported program)."""

    def __init__(self, case: Any, names: tuple[str, ...]) -> None:
        super().__init__()
        self.case, self.names = case, names

    def forward(self, *tensors: Any) -> Any:
        given = dict(zip(self.names, tensors, strict=True))
        return call_case(self.case, lambda a: given[_name_of(self.case, a)])


def _name_of(case: Any, a: np.ndarray) -> str:
    return next(k for k, v in case.inputs.items() if v is a)


def _export_key(case: Any) -> tuple[Any, ...]:
    """Cases that one exported program serves: same operation, constants and dtypes, and
    the same sizes where export specializes them (0 and 1)."""
    shapes = tuple((k, v.dtype.str, tuple(min(s, 2) for s in v.shape))
                   for k, v in case.inputs.items())
    return (case.op, case.api, repr(sorted(case.params.items())), shapes)


def _export_sample() -> list[Any]:
    cases = [c for c in _forward_cases() if c.check != "error"]
    if ALL:
        return cases
    suites: set[str] = set()
    out = []
    for i, c in enumerate(cases):
        if i % 16 == 0 or c.suite not in suites:
            suites.add(c.suite)
            out.append(c)
    return out


def test_forward_fixtures_exported() -> None:
    programs: dict[tuple[Any, ...], Any] = {}
    auto = torch.export.Dim.AUTO
    ops_seen = set()
    for case in _export_sample():
        names = tuple(case.inputs)
        tensors = tuple(_tensor(case.inputs[k]) for k in names)
        key = _export_key(case)
        if key not in programs:
            shapes = tuple(dict.fromkeys(range(t.dim()), auto) for t in tensors)
            ep = torch.export.export(_Call(case, names), tensors, dynamic_shapes=(shapes,))
            ops_seen |= {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
            programs[key] = ep.module()
        try:
            out = programs[key](*tensors)
        except (AssertionError, RuntimeError, ValueError):  # a size export specialized
            ep = torch.export.export(_Call(case, names), tensors)
            out = ep.module()(*tensors)
        _judge(case, out)
    assert {"xcrop.crop_and_resize.default", "xcrop.extract_glimpse.default"} <= ops_seen


def test_exported_program_is_one_operator() -> None:
    image, boxes, idx = torch.rand(2, 8, 9, 3), torch.rand(5, 4), torch.tensor([0, 1, 1, 0, 1])

    class Head(torch.nn.Module):
        def forward(self, image: Any, boxes: Any, idx: Any) -> Any:
            return xcrop.crop_and_resize(image, boxes, idx, (7, 7))

    ep = torch.export.export(Head(), (image, boxes, idx))
    calls = [n.target for n in ep.graph.nodes if n.op == "call_function"]
    assert calls == [torch.ops.xcrop.crop_and_resize.default]
    assert torch.equal(ep.module()(image, boxes, idx), xcrop.crop_and_resize(image, boxes, idx,
                                                                              (7, 7)))


def test_unseeded_glimpse_is_fresh_in_every_run() -> None:
    # seed=None stays None in the graph: the kernel draws a seed each run (no frozen fill).
    x, offsets = torch.rand(2, 4, 4, 1), torch.full((2, 2), 0.9)
    f = torch.compile(lambda x, o: xcrop.extract_glimpse(x, (6, 6), o), fullgraph=True)
    assert not torch.equal(f(x, offsets), f(x, offsets))
    seeded = torch.compile(lambda x, o: xcrop.extract_glimpse(x, (6, 6), o, seed=2**64 - 1),
                           fullgraph=True)
    eager = xcrop.extract_glimpse(x, (6, 6), offsets, seed=2**64 - 1)
    assert torch.equal(seeded(x, offsets), eager)


# ----------------------------------------------------------------------------------------
# backward through the compiled crop: TF's gradient bits
# ----------------------------------------------------------------------------------------

def _gradient_cases() -> list[Any]:
    """Every 24th recorded gradient and the first of each suite, operation, method and
    dtype (``XCROP_TORCH_OPS=all``: every one)."""
    cases = [c for c in CASES if c.op in GRADIENTS and c.check != "error"]
    seen: set[Any] = set()
    out = []
    for i, c in enumerate(cases):
        mark = (c.suite, c.op, c.params.get("method"), c.params.get("T"),
                tuple(str(v.dtype) for v in c.inputs.values()))
        if ALL or i % 24 == 0 or mark not in seen:
            seen.add(mark)
            out.append(c)
    return out


def _compiled_gradient(crop: Callable[..., Any], case: Any) -> Any:
    """The gradient the case recorded, as the backward of a compiled forward crop."""
    t = {k: _tensor(v) for k, v in case.inputs.items()}
    grads = t["grads"]
    size = tuple(grads.shape[1:3])
    if case.op == "crop_and_resize_grad_image":
        dtype = getattr(torch, case.params["T"])
        image = torch.zeros(case.params["image_shape"], dtype=dtype, requires_grad=True)
        out = crop(image, t["boxes"], t["box_indices"], size, case.params["method"])
        out.backward(grads)
        return image.grad
    boxes = t["boxes"].requires_grad_(True)
    out = crop(t["image"], boxes, t["box_indices"], size, "bilinear")
    out.backward(grads)
    return boxes.grad


def test_every_gradient_fixture_through_compiled_backward() -> None:
    torch._dynamo.reset()
    crop = torch.compile(xcrop.crop_and_resize, fullgraph=True, dynamic=True,
                         backend="aot_eager")
    with torch._dynamo.config.patch(recompile_limit=512, accumulated_recompile_limit=4096):
        for case in _gradient_cases():
            _judge(case, _compiled_gradient(crop, case))
    torch._dynamo.reset()


def test_compiled_backward_on_inductor_computes_only_what_is_needed() -> None:
    case = next(c for c in _gradient_cases() if c.op == "crop_and_resize_grad_boxes")
    crop = torch.compile(xcrop.crop_and_resize, fullgraph=True)
    _judge(case, _compiled_gradient(crop, case))
    calls: list[str] = []
    image = torch.rand(1, 4, 4, 2, requires_grad=True)
    boxes = torch.tensor([[0.1, 0.2, 0.9, 0.7]])

    class Log(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            calls.append(str(func))
            return func(*args, **(kwargs or {}))

    out = xcrop.crop_and_resize(image, boxes, [0], (3, 3))
    with Log():
        out.sum().backward()
    assert image.grad is not None and boxes.grad is None
    assert not any("grad_boxes" in c for c in calls), calls


# ----------------------------------------------------------------------------------------
# deterministic algorithms, warnings, CUDA
# ----------------------------------------------------------------------------------------

def test_deterministic_algorithms() -> None:
    image = torch.rand(2, 6, 7, 3, requires_grad=True)
    boxes = torch.tensor([[0.1, 0.2, 0.9, 0.7], [0.3, -0.1, 0.8, 1.2]], requires_grad=True)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        runs = []
        for _ in range(2):
            image.grad = boxes.grad = None
            out = xcrop.crop_and_resize(image, boxes, [0, 1], (4, 5))
            out.sum().backward()
            glimpse = xcrop.extract_glimpse(image.detach(), (8, 8), [[0.5, 0.5]] * 2, seed=3)
            runs.append((out, image.grad, boxes.grad, glimpse))
        for a, b in zip(*runs, strict=True):
            assert torch.equal(a, b)
    finally:
        torch.use_deterministic_algorithms(previous)


def test_compile_emits_no_warning() -> None:
    # Dynamo warns about each lru_cache-wrapped function it traces through; the public
    # functions' torch route must trace none.
    torch._dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = torch.compile(lambda i, b, n: xcrop.crop_and_resize(i, b, n, (3, 4)),
                          fullgraph=True, backend="aot_eager")
        f(torch.rand(2, 5, 6, 3), torch.rand(3, 4), torch.tensor([0, 1, 1]))
        g = torch.compile(lambda x, o: xcrop.compat.v1.extract_glimpse(x, (3, 3), o, seed=1),
                          fullgraph=True, backend="aot_eager")
        g(torch.rand(2, 5, 6, 3), torch.zeros(2, 2))


_CUDA_SKIP = torch_cuda_skip_reason()


@pytest.mark.skipif(_CUDA_SKIP is not None, reason=f"torch CUDA operators: {_CUDA_SKIP}")
@pytest.mark.parametrize("case", _opcheck_sample())
def test_opcheck_cuda(case: Any) -> None:
    op = getattr(torch.ops.xcrop, case.op).default
    args = tuple(a.detach().cuda().requires_grad_(a.requires_grad)
                 if isinstance(a, torch.Tensor) else a for a in _opcheck_args(case))
    result = torch.library.opcheck(op, args)
    assert set(result.values()) == {"SUCCESS"}, result


@pytest.mark.skipif(_CUDA_SKIP is not None, reason=f"torch CUDA operators: {_CUDA_SKIP}")
def test_cuda_compiled_matches_cpu() -> None:
    image, boxes = torch.rand(2, 9, 11, 4), torch.rand(6, 4) * 1.2 - 0.1
    idx = torch.tensor([0, 1, 1, 0, 1, 0])
    f = torch.compile(lambda i, b, n: xcrop.crop_and_resize(i, b, n, (5, 3)), fullgraph=True)
    cpu = xcrop.crop_and_resize(image, boxes, idx, (5, 3))
    assert torch.equal(f(image.cuda(), boxes.cuda(), idx.cuda()).cpu(), cpu)


def test_public_gradient_functions_compile_to_their_operators() -> None:
    grads, boxes = torch.rand(3, 4, 5, 2), torch.rand(3, 4)
    idx, image = torch.tensor([0, 1, 1]), torch.rand(2, 6, 7, 2)
    gi = torch.compile(lambda g, b, i: xcrop.crop_and_resize_grad_image(
        g, b, i, (2, 6, 7, 2), "bilinear", torch.float32), fullgraph=True, backend="aot_eager")
    gb = torch.compile(xcrop.crop_and_resize_grad_boxes, fullgraph=True, backend="aot_eager")
    eager_i = xcrop.crop_and_resize_grad_image(grads, boxes, idx, (2, 6, 7, 2), "bilinear",
                                               "float32")
    assert torch.equal(gi(grads, boxes, idx), eager_i)
    assert torch.equal(gb(grads, image, boxes, idx), xcrop.crop_and_resize_grad_boxes(
        grads, image, boxes, idx))
    with pytest.raises(BoxIndexError):
        gi(grads, boxes, torch.tensor([0, 2, 1]))
