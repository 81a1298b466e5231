"""PyTorch fast paths (CPU and CUDA tensors): crop_and_resize and extract_glimpse.

The crop is the NumPy fast path's algorithm in torch ops: per chunk of boxes, four
``index_select`` gathers over the ``(B*H*W, D)`` pixel rows (no Python loop over boxes
within a chunk; a chunk holds thousands of boxes) and the lerps as in-place
``sub_``/``mul_``/``add_`` in the generic path's order, each one float32 kernel (eager
PyTorch never fuses them into an FMA, on CPU or CUDA). Exactness: see ``exactness`` (the
subnormal flushes are skipped only when provably the identity) and ``numpy_paths``.

Autograd: public calls reach these paths through the ``xcrop::`` custom operators
(``_frameworks/torch_ops.py``), whose kernels run with grad mode off; their autograd
formula runs the gradient operators. A direct dispatch where the image or the boxes
require a gradient (with grad mode on) is *declined* by the predicate and served by
the generic path, whose torch operations autograd records.

Channels-last: the image is used as ``(B*H*W, D)`` rows; an NHWC-contiguous tensor (a
``permute(0, 2, 3, 1)`` of an NCHW tensor in ``torch.channels_last`` memory format is
one) is used without a copy, any other layout is copied once.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from .._core.args import CropArgs, GlimpseArgs, GradBoxesArgs, GradImageArgs
from .._core.arrays import host_view, ieee_quiet
from .._core.errors import PathUnavailable
from .._reference import gradients as reference_gradients
from .._reference.extract_glimpse import fill
from .._reference.indexing import crop_plan
from . import buffers
from .exactness import unflushed_crop_exact
from .host import crop_view, glimpse_view, numpy_view
from .host_gradients import sequential_row_sums
from .numba import grad_drivers
from .numba import loader as numba_loader
from .numpy import glimpse_into, needs_fill, numba_crop, paste_windows, window_starts
from .path_records import numba_kernel_paths

__all__ = ["paths"]

#: Output elements per chunk on CPU (three float32 buffers of 4 MiB) and on CUDA.
CPU_CHUNK_ELEMENTS = 2**20
CUDA_CHUNK_ELEMENTS = 2**26


def _grad_needed(*tensors: Any) -> bool:
    import torch

    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _min_nonzero_abs(image: Any) -> float:
    import torch

    if image.numel() == 0:
        return math.inf
    a = image.abs()
    # NaN > 0 is False: NaNs are skipped (they never make a subnormal).
    a = torch.where(a > 0, a, torch.full((), math.inf, dtype=a.dtype, device=a.device))
    return float(a.amin())


def _crop_predicate(device_type: str) -> Any:
    def predicate(args: CropArgs) -> bool:
        import torch

        image = args.image
        if not isinstance(image, torch.Tensor) or image.device.type != device_type:
            return False
        return (not _grad_needed(image, args.boxes)
                and unflushed_crop_exact(args, _min_nonzero_abs))

    return predicate


def _crop(args: CropArgs) -> Any:
    import torch

    image = args.image
    batch, height, width, depth = image.shape
    n, ch, cw, _ = args.output_shape
    device = image.device
    # Rounded to float32 as the generic path rounds it (1e40 -> inf, no error).
    fill = torch.tensor(args.extrapolation_value, dtype=torch.float64).to(torch.float32)
    if n == 0 or depth == 0:
        return fill.expand(n, ch, cw, depth).clone().to(device)
    fill = fill.to(device)
    plan = crop_plan(args)
    pixels = image.reshape(batch * height * width, depth)  # a view for NHWC-contiguous
    out = torch.empty((n, ch, cw, depth), dtype=torch.float32, device=device)
    convert = pixels.dtype != torch.float32
    chunk = CUDA_CHUNK_ELEMENTS if device.type == "cuda" else CPU_CHUNK_ELEMENTS
    per_box = ch * cw * depth
    # At most half the boxes per chunk (temporaries <= ~1.5x the output), at least one.
    step = max(1, min(chunk // per_box, math.ceil(n / 2)))
    rows = step * ch * cw
    a = torch.empty((rows, depth), dtype=torch.float32, device=device)
    b = torch.empty_like(a)
    c = torch.empty_like(a)
    raw = torch.empty((rows, depth), dtype=pixels.dtype, device=device) if convert else None

    def gather(r: Any, cols: Any, i0: int, i1: int, buf: Any) -> Any:
        k = i1 - i0
        flat = (r[i0:i1, :, None] + cols[i0:i1, None, :]).reshape(-1)
        dst = buf[:k * ch * cw]
        if convert:
            src = raw[:k * ch * cw]
            torch.index_select(pixels, 0, flat, out=src)
            dst.copy_(src)
        else:
            torch.index_select(pixels, 0, flat, out=dst)
        return dst.view(k, ch, cw, depth)

    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        k = i1 - i0
        dst = out[i0:i1]
        if args.method == "nearest":
            gather(plan.rows_a, plan.cols_a, i0, i1, dst.view(k * ch * cw, depth))
        else:
            # Weights laid out like the rows they scale (see numpy_paths).
            xl = plan.x_lerp[i0:i1].repeat_interleave(depth, dim=1).view(k, 1, cw, depth)
            yl = plan.y_lerp[i0:i1, :, None, None]
            tl = gather(plan.rows_a, plan.cols_a, i0, i1, a)
            tr = gather(plan.rows_a, plan.cols_b, i0, i1, b)
            top = tr.sub_(tl).mul_(xl).add_(tl)  # TL + (TR - TL) * xl (add commutes)
            bl = gather(plan.rows_b, plan.cols_a, i0, i1, a)
            br = gather(plan.rows_b, plan.cols_b, i0, i1, c)
            bottom = br.sub_(bl).mul_(xl).add_(bl)
            torch.add(top, bottom.sub_(top).mul_(yl), out=dst)
        if not plan.all_inside:
            outside = ~(plan.inside_y[i0:i1, :, None, None] & plan.inside_x[i0:i1, None, :, None])
            dst.masked_fill_(outside, fill)
    return out


# ----------------------------------------------------------------------------------------
# extract_glimpse
# ----------------------------------------------------------------------------------------

def _glimpse_predicate(device_type: str) -> Any:
    def predicate(args: GlimpseArgs) -> bool:
        import torch

        x = args.input
        b, height, width, depth = x.shape
        return (isinstance(x, torch.Tensor) and x.device.type == device_type
                and not _grad_needed(x) and min(b, height, width, depth) > 0
                and args.height > 0 and args.width > 0)

    return predicate


def _glimpse(args: GlimpseArgs) -> Any:
    import torch

    shape = args.output_shape
    device = args.input.device
    if device.type == "cpu":
        # CPU tensors share memory with NumPy arrays: the NumPy path (numba kernel or
        # index-array fill) writes straight into a (pooled, see ``buffers``) output, and
        # the window starts are computed on NumPy views (cheaper than torch ops on a
        # (B, 2) array; same code).
        view = glimpse_view(replace(args, input=args.input.contiguous()),
                            lambda t: t.detach().numpy())
        host_out = buffers.empty(shape)
        glimpse_into(view, view.input, host_out)
        return torch.from_numpy(host_out)
    out = torch.empty(shape, dtype=torch.float32, device=device)
    starts = window_starts(args)
    if needs_fill(args, starts):
        if args.noise == "zero":
            out.zero_()
        else:
            out.copy_(fill(args, shape))  # the reference's own fill
    # One slice copy per batch element (B kernels on CUDA; no per-pixel gather).
    paste_windows(out, args.input, starts)
    return out


def _numba_crop_predicate(args: CropArgs) -> bool:
    import torch

    image = args.image
    return (isinstance(image, torch.Tensor) and image.device.type == "cpu"
            and not _grad_needed(image, args.boxes)
            and numba_loader.ready(numba_loader.crop_key(image.dtype)))


def _numba_crop(args: CropArgs) -> Any:
    import torch

    image = args.image.detach()
    if image.dtype == torch.float16:
        image = image.to(torch.float32)  # exact
    # CPU tensors share memory with NumPy views: plan and kernel run on those (cheaper
    # than torch ops on the small index arrays).
    view = crop_view(replace(args, image=image.contiguous()), lambda t: t.detach().numpy())
    return torch.from_numpy(numba_crop(view, view.image))


# ----------------------------------------------------------------------------------------
# gradients: the reference on zero-copy NumPy views of CPU tensors. Same code, same bits;
# NumPy's elementwise operations are several times faster than torch's small CPU kernels
# here (RoI-head-sized image gradient: 5.6 s -> 0.3 s).
# ----------------------------------------------------------------------------------------

def _cpu_tensor(args: Any) -> bool:
    import torch

    return isinstance(args.image, torch.Tensor) and args.image.device.type == "cpu"


def _host(t: Any) -> Any:
    view = host_view(t.contiguous())
    if view is None:  # a dtype NumPy cannot view
        raise PathUnavailable
    return view


def _image_view(args: GradImageArgs) -> GradImageArgs:
    import torch

    return replace(numpy_view(args, _host), dtype=torch.empty(0, dtype=args.dtype).numpy().dtype)


def _grad_image(args: GradImageArgs) -> Any:
    import torch

    with ieee_quiet():  # overflow to inf is TF's answer, not a warning
        return torch.from_numpy(reference_gradients.image_gradient(_image_view(args)))


def _grad_boxes(args: GradBoxesArgs) -> Any:
    import torch

    with ieee_quiet():
        return torch.from_numpy(reference_gradients.box_gradient(
            numpy_view(args, _host), row_sums=sequential_row_sums))


def _numba_cpu(args: Any) -> bool:
    return _cpu_tensor(args) and numba_loader.available()


def _numba_grad_image(args: GradImageArgs) -> Any:
    import torch

    return torch.from_numpy(grad_drivers.image_gradient(_image_view(args)))


def _numba_grad_boxes(args: GradBoxesArgs) -> Any:
    import torch

    return torch.from_numpy(grad_drivers.box_gradient(numpy_view(args, _host)))


def paths() -> list[dict[str, Any]]:
    """The torch fast paths (see ``_backends.builtin_paths``)."""
    out = [
        *numba_kernel_paths("torch", "torch CPU fast path", crop=_numba_crop,
                            crop_ok=_numba_crop_predicate, grad_image=_numba_grad_image,
                            grad_boxes=_numba_grad_boxes, grads_ok=_numba_cpu),
        dict(operation="crop_and_resize_grad_image", backend="torch",
             implementation=_grad_image, predicate=_cpu_tensor,
             name="torch CPU fast path (NumPy views)", priority=-1, device="cpu"),
        dict(operation="crop_and_resize_grad_boxes", backend="torch",
             implementation=_grad_boxes, predicate=_cpu_tensor,
             name="torch CPU fast path (NumPy views)", priority=-1, device="cpu"),
    ]
    for device_type, label, device in (("cpu", "CPU", "cpu"), ("cuda", "CUDA", "gpu")):
        name = f"torch {label} fast path"
        out.append(dict(operation="crop_and_resize", backend="torch", implementation=_crop,
                        predicate=_crop_predicate(device_type), name=name, priority=-1,
                        device=device))
        out.append(dict(operation="extract_glimpse", backend="torch", implementation=_glimpse,
                        predicate=_glimpse_predicate(device_type), name=name, priority=-1,
                        device=device))
    return out
