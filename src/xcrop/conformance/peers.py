"""Adapters that give peer libraries TensorFlow's ``crop_and_resize`` signature, so
``xcrop conformance --impl xcrop.conformance.peers:<name> --impl-backend torch`` shows
where each deviates from TF.

Every adapter takes ``(image, boxes, box_indices, crop_size, method, extrapolation_value)``
as :func:`tf.image.crop_and_resize` does — ``image`` NHWC, ``boxes`` normalized
``(y1, x1, y2, x2)`` — as NumPy arrays or torch tensors, and returns a float32 NHWC torch
tensor. What a peer cannot express raises :class:`NotImplementedError` (reported as
*unsupported*), never an approximation in disguise.

TF's sampling grid (the reference): for an image axis of size ``S``, a crop axis of size
``c > 1`` and normalized box ends ``v1, v2``, sample ``j`` lies at pixel coordinate
``v1 * (S - 1) + j * (v2 - v1) * (S - 1) / (c - 1)`` (pixel centres at integers, box ends
on pixel centres: "align corners"); for ``c == 1`` at the box centre
``0.5 * (v1 + v2) * (S - 1)``. A sample outside ``[0, S - 1]`` gives
``extrapolation_value`` for the whole output element; inside, TF lerps
``top + (bottom - top) * dy`` after ``left + (right - left) * dx`` in float32. Flipped
boxes (``v1 > v2``) sample backwards. ``"nearest"`` rounds half away from zero.

Semantic differences of the peers (what the reports measure):

``torchvision.ops.roi_align`` (``torchvision_roi_align*``)
    Boxes are pixel-coordinate ``(x1, y1, x2, y2)`` regions divided into ``c`` bins; each
    output element averages ``sampling_ratio**2`` bilinear samples at
    ``x1 + (j + (k + 0.5) / sampling_ratio) * bin`` (``aligned=True`` first shifts the box
    by -0.5 pixel). ``aligned=False`` also clamps the box size to at least 1 pixel, which
    breaks boxes smaller than a pixel and all flipped boxes. Outside the image roi_align
    does not extrapolate: samples in ``[-1, 0)`` and ``(S - 1, S]`` are clamped to the
    edge pixel and only samples beyond that band give 0, so a non-zero
    ``extrapolation_value`` is unsupported for boxes that reach outside [0, 1] (inside,
    TF never uses it) and the borders differ. Its bilinear weights are
    ``hy*hx*v1 + hy*lx*v2 + ly*hx*v3 + ly*lx*v4``, not TF's nested lerps: in-bounds
    results differ by a few ulp. There is no nearest mode (unsupported).

    * ``torchvision_roi_align``: the closest emulation: ``aligned=True``,
      ``sampling_ratio=1`` and boxes rewritten so that the single sample of bin ``j`` sits
      exactly on TF's sample ``j`` (box ``[start - step/2, start + (c - 1/2) * step]``
      plus the +0.5 that ``aligned=True`` takes off again).
    * ``torchvision_roi_align_legacy``: the same box rewrite with ``aligned=False``
      (torchvision's default), where the 1-pixel minimum size bites.
    * ``torchvision_roi_align_pixel``: the common port of a TF model: boxes scaled to
      pixel corners ``(v * S)``, ``aligned=True``, ``sampling_ratio=2`` (detectron2's
      convention): a different sampling grid, so large deviations everywhere — the point
      of the report is to show how large.

``kornia.geometry.transform.crop_and_resize`` (``kornia_crop_and_resize``)
    Boxes are four pixel-coordinate corner points ``(x, y)`` (top-left, top-right,
    bottom-right, bottom-left); with ``align_corners=True`` the corners are pixel centres,
    so the adapter passes ``v * (S - 1)``: the same grid as TF. kornia computes a
    perspective transform from the corners (solved in float32) and samples with
    ``grid_sample``, which normalizes coordinates to ``[-1, 1]`` and back, so sample
    positions carry rounding error. ``grid_sample`` with ``padding_mode="zeros"`` blends
    outside pixels as 0 instead of returning ``extrapolation_value`` for the element, so
    a non-zero ``extrapolation_value`` is unsupported for boxes reaching outside [0, 1]
    and the borders differ. Its
    nearest mode rounds half to even. A crop size of 1 makes the corner points
    degenerate (the perspective transform is singular): unsupported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "kornia_crop_and_resize",
    "torchvision_roi_align",
    "torchvision_roi_align_legacy",
    "torchvision_roi_align_pixel",
]


def _torch_inputs(image: Any, boxes: Any, box_indices: Any) -> tuple[Any, Any, Any]:
    """image as float32 NCHW torch, boxes as float64 (n, 4), indices as int64 (n,)."""
    import torch

    img = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    if img.ndim != 4:
        raise ValueError(f"image must be 4-D (batch, height, width, channels), got shape "
                         f"{tuple(img.shape)}")
    if img.is_complex():
        raise TypeError(f"image must be real, got {img.dtype}")
    # TF casts any real image to float32 before sampling; so do we (the peers' own dtype
    # support is not what is measured).
    img = img.to(torch.float32).permute(0, 3, 1, 2).contiguous()
    bx = torch.as_tensor(np.asarray(boxes) if not isinstance(boxes, torch.Tensor) else boxes)
    ix = torch.as_tensor(np.asarray(box_indices) if not isinstance(box_indices, torch.Tensor)
                         else box_indices)
    if bx.ndim != 2 or bx.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (n, 4), got {tuple(bx.shape)}")
    if ix.shape != (bx.shape[0],):
        raise ValueError(f"box_indices must have shape ({bx.shape[0]},), got {tuple(ix.shape)}")
    ix = ix.to(torch.int64)
    if bx.shape[0] and (int(ix.min()) < 0 or int(ix.max()) >= img.shape[0]):
        raise IndexError(f"box_indices must lie in [0, {img.shape[0]}), got "
                         f"{ix.min().item()}..{ix.max().item()}")
    return img, bx.to(torch.float64), ix


def _may_extrapolate(boxes: Any) -> bool:
    """True if a box reaches outside [0, 1]: only then does TF use extrapolation_value
    (every sample of a box inside [0, 1] lies in the image), so only then is a non-zero
    value something a peer without one cannot express."""
    return bool(((boxes < 0) | (boxes > 1)).any())


def _crop_size(crop_size: Any) -> tuple[int, int]:
    ch, cw = (int(v) for v in crop_size)
    if ch <= 0 or cw <= 0:
        raise ValueError(f"crop_size must be positive, got {(ch, cw)}")
    return ch, cw


def _tf_grid_bins(v1: Any, v2: Any, size: int, c: int) -> tuple[Any, Any]:
    """roi_align box ends (before aligned's -0.5) whose bin centres are TF's samples."""
    if c == 1:
        centre = 0.5 * (v1 + v2) * (size - 1)
        return centre - 0.5, centre + 0.5
    step = (v2 - v1) * (size - 1) / (c - 1)
    start = v1 * (size - 1) - 0.5 * step
    return start, start + c * step


def _roi_align(image: Any, boxes: Any, box_indices: Any, crop_size: Any, method: str,
               extrapolation_value: float, *, aligned: bool, sampling_ratio: int,
               grid: str) -> Any:
    import torch
    from torchvision.ops import roi_align

    if method != "bilinear":
        raise NotImplementedError(f"roi_align has no {method!r} mode (bilinear only)")
    img, bx, ix = _torch_inputs(image, boxes, box_indices)
    if extrapolation_value != 0.0 and _may_extrapolate(bx):
        raise NotImplementedError(
            "roi_align clamps to the edge and fills 0 beyond it: a non-zero "
            "extrapolation_value cannot be expressed")
    ch, cw = _crop_size(crop_size)
    h, w = img.shape[2], img.shape[3]
    if h == 0 or w == 0:
        # torchvision 0.29.1's CPU roi_align crashes the process (SIGSEGV) on an empty image;
        # raise here so that the report shows "raised" rather than losing the whole run.
        raise ValueError(f"image height and width must be positive, got {h}x{w} (guard: "
                         f"roi_align segfaults on them)")
    if not bool(torch.isfinite(bx).all()):
        raise ValueError("box coordinates must be finite (guard: roi_align segfaults on NaN "
                         "or infinite boxes)")
    y1, x1, y2, x2 = bx.unbind(-1)
    if grid == "tf":
        ys, ye = _tf_grid_bins(y1, y2, h, ch)
        xs, xe = _tf_grid_bins(x1, x2, w, cw)
        if aligned:  # roi_align subtracts 0.5 from aligned boxes; add it back
            ys, ye, xs, xe = ys + 0.5, ye + 0.5, xs + 0.5, xe + 0.5
    else:  # pixel corners, the usual port
        ys, ye, xs, xe = y1 * h, y2 * h, x1 * w, x2 * w
    rois = torch.stack([ix.to(torch.float64), xs, ys, xe, ye], dim=-1).to(torch.float32)
    out = roi_align(img, rois, output_size=(ch, cw), spatial_scale=1.0,
                    sampling_ratio=sampling_ratio, aligned=aligned)
    return out.permute(0, 2, 3, 1).contiguous()


def torchvision_roi_align(image: Any, boxes: Any, box_indices: Any, crop_size: Any,
                          method: str = "bilinear", extrapolation_value: float = 0.0) -> Any:
    """TF's grid through ``torchvision.ops.roi_align(aligned=True, sampling_ratio=1)``.

    Shapes as :func:`tf.image.crop_and_resize`; returns float32 ``(n, ch, cw, channels)``
    torch. Raises NotImplementedError for ``method="nearest"`` and a non-zero
    ``extrapolation_value``.
    """
    return _roi_align(image, boxes, box_indices, crop_size, method, extrapolation_value,
                      aligned=True, sampling_ratio=1, grid="tf")


def torchvision_roi_align_legacy(image: Any, boxes: Any, box_indices: Any, crop_size: Any,
                                 method: str = "bilinear",
                                 extrapolation_value: float = 0.0) -> Any:
    """As :func:`torchvision_roi_align` with ``aligned=False`` (roi_align's default)."""
    return _roi_align(image, boxes, box_indices, crop_size, method, extrapolation_value,
                      aligned=False, sampling_ratio=1, grid="tf")


def torchvision_roi_align_pixel(image: Any, boxes: Any, box_indices: Any, crop_size: Any,
                                method: str = "bilinear",
                                extrapolation_value: float = 0.0) -> Any:
    """The usual port: boxes ``* (W, H)`` as pixel corners, ``aligned=True``,
    ``sampling_ratio=2``. A different grid from TF's: expect large deviations."""
    return _roi_align(image, boxes, box_indices, crop_size, method, extrapolation_value,
                      aligned=True, sampling_ratio=2, grid="pixel")


def kornia_crop_and_resize(image: Any, boxes: Any, box_indices: Any, crop_size: Any,
                           method: str = "bilinear", extrapolation_value: float = 0.0) -> Any:
    """TF's boxes through ``kornia.geometry.transform.crop_and_resize(align_corners=True)``.

    Shapes as :func:`tf.image.crop_and_resize`; returns float32 ``(n, ch, cw, channels)``
    torch. Raises NotImplementedError for a non-zero ``extrapolation_value`` and a crop
    size of 1 (kornia's corner mapping is then singular).
    """
    import torch
    from kornia.geometry.transform import crop_and_resize

    if method not in ("bilinear", "nearest"):
        raise ValueError(f"method must be 'bilinear' or 'nearest', got {method!r}")
    ch, cw = _crop_size(crop_size)
    if ch == 1 or cw == 1:
        raise NotImplementedError("kornia maps box corners onto the crop's corners; a crop "
                                  "size of 1 makes that mapping singular")
    img, bx, ix = _torch_inputs(image, boxes, box_indices)
    if extrapolation_value != 0.0 and _may_extrapolate(bx):
        raise NotImplementedError(
            "kornia blends zero padding into the border samples: a non-zero "
            "extrapolation_value cannot be expressed")
    h, w = img.shape[2], img.shape[3]
    y1, x1, y2, x2 = (v for v in bx.unbind(-1))
    y1, y2, x1, x2 = y1 * (h - 1), y2 * (h - 1), x1 * (w - 1), x2 * (w - 1)
    corners = torch.stack([torch.stack([x1, y1], -1), torch.stack([x2, y1], -1),
                           torch.stack([x2, y2], -1), torch.stack([x1, y2], -1)], dim=1)
    if bx.shape[0] == 0:
        return torch.zeros((0, ch, cw, img.shape[1]), dtype=torch.float32)
    out = crop_and_resize(img[ix], corners.to(torch.float32), (ch, cw), mode=method,
                          padding_mode="zeros", align_corners=True)
    return out.permute(0, 2, 3, 1).contiguous()
