// crop_and_resize gradients, TF CPU bit for bit: CropAndResizeGradImage and
// CropAndResizeGradBoxes in TF's sequential order, deterministic, without atomics.
//
// Reference: xcrop/_generic/gradients.py (TF-exact on the recorded gradient fixtures).
// Both gradients are float sums whose bits depend on the order of the additions, so
// every output element is owned by exactly one thread, which adds its terms in TF's order:
// no two threads write the same element, no atomics, the same bits on every run.
//
// Image gradient: one thread per output element (b, y, x, d) of the (B, H, W, D) result.
//   TF's loop runs over boxes, sample rows, sample columns, corners (TL, TR, BL, BR),
//   channels; the thread replays that loop restricted to the additions that land on its
//   element: boxes i = 0, 1, ... with box_index[i] == b, then per box the sample rows r
//   ascending whose row touches y, the columns c ascending whose column touches x, then
//   the corners in TF's order. A sample row touches y only if y - 1 < in_y[r] < y + 1
//   (floor or ceil equal to y; nearest rounds within that window too). in_y of one box is
//   monotone in r (non-increasing for a flipped box: every step is a monotone rounding),
//   so those rows form one contiguous index range, found by binary search; the exact
//   floor/ceil/round tests and the inside test then run on the few rows inside it.
//   Parallelism: B * H * W * D threads; per thread O(n + boxes of b * log(crop) + hits).
//   Threads of a warp are consecutive channels of one pixel: same control flow.
// Box gradient: one thread per (box, axis): axis 0 owns the y1 and y2 sums (it needs only
//   image_grad_y), axis 1 the x1 and x2 sums (image_grad_x). Each runs TF's loop over
//   rows, columns, channels of its box sequentially (a float32 sum cannot be split without
//   changing its rounding). Parallelism: 2 * n threads.
//
// Arithmetic (the generic path's, operation for operation): float32 ops are __f*_rn
// intrinsics (never contracted into FMA) followed by an explicit flush-to-zero where the
// generic path flushes; the upstream gradient, pixels and box edges are flushed before use
// (denormals-are-zero), so the bits are the same with or without -ftz=true. Image-gradient
// accumulation is in the image dtype: float32 add + flush; float16 = the half-rounded
// float32 contribution added in float32 and rounded back to half (Eigen's half +=);
// float64 plain double adds. Box-gradient sums are float32; with a crop size of 1 on
// either axis TF's terms of that axis are float64 (0.5 * (size - 1) is a double) and the
// float32 accumulator takes `float += double`: add in double, round once (the float32
// terms of the other axis go through the same double add, which rounds like a float add).
//
// Extrapolated samples (coordinate outside [0, size - 1]) are skipped, as TF skips them.
// (The generic path adds +0.0 for them instead: identical except when a float32 partial sum
// was flushed to -0.0: TF keeps it, adding +0.0 turns it into +0.0.)
#include "common.cuh"

// float32 -> IEEE binary16 bits, round to nearest even (Eigen's float -> half cast, which
// TF's static_cast<half> uses): subnormal halves kept, overflow to inf, NaN -> quiet NaN.
// Integer operations only, so it needs no cuda_fp16.h and runs the same on the host.
__device__ __forceinline__ unsigned short xcrop_f32_to_f16(float f) {
    const unsigned int bits = __float_as_uint(f);
    const unsigned int sign = (bits >> 16) & 0x8000u;
    const unsigned int mag = bits & 0x7FFFFFFFu;
    if (mag >= 0x7F800000u) {
        return (unsigned short)(sign | (mag == 0x7F800000u ? 0x7C00u : 0x7E00u));
    }
    if (mag >= 0x477FF000u) {  // >= 65520 = 65504 + half an ulp: the tie goes to inf
        return (unsigned short)(sign | 0x7C00u);
    }
    const unsigned int exp = mag >> 23;
    if (exp >= 113u) {  // >= 2**-14: a normal half; the rounding carry may bump the exponent
        unsigned int h = ((exp - 112u) << 10) | ((mag & 0x7FFFFFu) >> 13);
        const unsigned int rest = mag & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) {
            h += 1u;
        }
        return (unsigned short)(sign | h);
    }
    if (exp < 102u) {  // below 2**-25: rounds to zero (float32 subnormals included)
        return (unsigned short)sign;
    }
    // A subnormal half: the significand in units of 2**-24, rounded to nearest even.
    const unsigned int sig = (mag & 0x7FFFFFu) | 0x800000u;
    const unsigned int shift = 126u - exp;  // 14 ... 24
    unsigned int h = sig >> shift;
    const unsigned int rest = sig & ((1u << shift) - 1u);
    const unsigned int tie = 1u << (shift - 1u);
    if (rest > tie || (rest == tie && (h & 1u))) {
        h += 1u;
    }
    return (unsigned short)(sign | h);
}

// Accumulators of the image gradient, one per image dtype: Out is the stored element type
// (float16 as its raw bits), add() is TF's `grads_image(...) += static_cast<T>(v)`.
struct XcropAccF32 {
    typedef float Acc;
    typedef float Out;
    __device__ __forceinline__ static Acc add(Acc acc, float v) {
        return xcrop_ftz(__fadd_rn(acc, v));
    }
    __device__ __forceinline__ static Out store(Acc acc) { return acc; }
};
struct XcropAccF16 {
    typedef float Acc;  // always a value a half holds exactly
    typedef unsigned short Out;
    // Halves are multiples of 2**-24, so their float32 sum is exact or normal: FTZ-proof.
    __device__ __forceinline__ static Acc add(Acc acc, float v) {
        const float h = XcropFromF16::convert(xcrop_f32_to_f16(v));
        return XcropFromF16::convert(xcrop_f32_to_f16(__fadd_rn(acc, h)));
    }
    __device__ __forceinline__ static Out store(Acc acc) { return xcrop_f32_to_f16(acc); }
};
struct XcropAccF64 {
    typedef double Acc;
    typedef double Out;
    __device__ __forceinline__ static Acc add(Acc acc, float v) {
        return __dadd_rn(acc, (double)v);
    }
    __device__ __forceinline__ static Out store(Acc acc) { return acc; }
};

// [*first, *last): the indices k of the samples with lo < c[k] < hi, for c monotone in k
// (non-decreasing, or non-increasing for a flipped box); count >= 1, no NaN (validated).
__device__ __forceinline__ void xcrop_window(const float* c, long long count, float lo, float hi,
                                             long long* first, long long* last) {
    const bool up = c[0] <= c[count - 1];
    // Both predicates below turn from false to true once as k grows.
    long long a = 0;
    long long b = count;
    while (a < b) {
        const long long m = a + (b - a) / 2;
        if (up ? c[m] > lo : c[m] < hi) {
            b = m;
        } else {
            a = m + 1;
        }
    }
    *first = a;
    b = count;
    while (a < b) {
        const long long m = a + (b - a) / 2;
        if (up ? c[m] >= hi : c[m] <= lo) {
            b = m;
        } else {
            a = m + 1;
        }
    }
    *last = a;
}

// One axis of the image gradient: whether the sample at coordinate c adds to pixel p as
// its low neighbour (floor(c); nearest: the rounded index) and as its high one (ceil(c);
// bilinear only), and its weight c - floor(c). An extrapolated sample reaches nothing
// (TF skips it).
struct XcropReach {
    bool low, high;
    float lerp;
};
template <bool Nearest>
__device__ __forceinline__ XcropReach xcrop_reach(float c, float last, float p) {
    const float low_f = floorf(c);
    const bool inside = xcrop_inside(c, last);
    XcropReach h;
    h.low = inside && (Nearest ? xcrop_round_half_up(c) == p : low_f == p);
    h.high = inside && !Nearest && ceilf(c) == p;
    h.lerp = __fsub_rn(c, low_f);
    return h;
}

// Inputs: grads (n, crop_h, crop_w, D) float32; in_y (n, crop_h), in_x (n, crop_w) the
// forward's float32 sample coordinates (xcrop/_coordinates.py); box_index (n,) int64 in
// [0, B). Output: out (B, H, W, D) of the image dtype, every element written.
template <bool Nearest, typename A>
__device__ __forceinline__ void xcrop_grad_image(
    const float* __restrict__ grads, const float* __restrict__ in_y,
    const float* __restrict__ in_x, const long long* __restrict__ box_index, long long n,
    long long batch, long long height, long long width, long long depth, long long crop_h,
    long long crop_w, typename A::Out* __restrict__ out) {
    // Every integer below is at most 2**24 (validated sizes): exact in float32.
    const float ylast = __ll2float_rn(height - 1);
    const float xlast = __ll2float_rn(width - 1);
    xcrop_for_each4(batch, height, width, depth, [&](long long e, long long b, long long y,
                                                     long long x, long long d) {
        const float yf = __ll2float_rn(y);
        const float xf = __ll2float_rn(x);
        typename A::Acc acc = 0;
        for (long long i = 0; i < n; ++i) {
            if (box_index[i] != b) {
                continue;
            }
            const float* cys = in_y + i * crop_h;
            const float* cxs = in_x + i * crop_w;
            long long c0, c1, r0, r1;
            xcrop_window(cxs, crop_w, __ll2float_rn(x - 1), __ll2float_rn(x + 1), &c0, &c1);
            if (c0 == c1) {
                continue;
            }
            xcrop_window(cys, crop_h, __ll2float_rn(y - 1), __ll2float_rn(y + 1), &r0, &r1);
            for (long long r = r0; r < r1; ++r) {
                const XcropReach ry = xcrop_reach<Nearest>(cys[r], ylast, yf);
                if (!ry.low && !ry.high) {
                    continue;
                }
                const float* grow = grads + (i * crop_h + r) * crop_w * depth + d;
                for (long long c = c0; c < c1; ++c) {
                    const XcropReach rx = xcrop_reach<Nearest>(cxs[c], xlast, xf);
                    if (!rx.low && !rx.high) {
                        continue;
                    }
                    const float g = xcrop_ftz(grow[c * depth]);
                    if (Nearest) {
                        acc = A::add(acc, g);
                        continue;
                    }
                    const float y_lerp = ry.lerp;
                    const float x_lerp = rx.lerp;
                    const float x_left = xcrop_ftz(__fsub_rn(1.0f, x_lerp));
                    // Corners in TF's order: TL, TR, then BL, BR.
                    if (ry.low) {  // top
                        const float dtop =
                            xcrop_ftz(__fmul_rn(xcrop_ftz(__fsub_rn(1.0f, y_lerp)), g));
                        if (rx.low) {
                            acc = A::add(acc, xcrop_ftz(__fmul_rn(x_left, dtop)));
                        }
                        if (rx.high) {
                            acc = A::add(acc, xcrop_ftz(__fmul_rn(x_lerp, dtop)));
                        }
                    }
                    if (ry.high) {  // bottom
                        const float dbottom = xcrop_ftz(__fmul_rn(y_lerp, g));
                        if (rx.low) {
                            acc = A::add(acc, xcrop_ftz(__fmul_rn(x_left, dbottom)));
                        }
                        if (rx.high) {
                            acc = A::add(acc, xcrop_ftz(__fmul_rn(x_lerp, dbottom)));
                        }
                    }
                }
            }
        }
        out[e] = A::store(acc);
    });
}

// Sample coordinate k of one axis as the box-gradient kernel rounds it (generic
// _box_coordinates; crop size 1: the forward's formula). lo, hi already flushed.
__device__ __forceinline__ float xcrop_box_coordinate(float lo, float hi, float extent,
                                                      float ratio, long long count, long long k) {
    if (count == 1) {  // 0.5 * extent is exact
        return xcrop_ftz(__fmul_rn(xcrop_ftz(__fadd_rn(lo, hi)), __fmul_rn(0.5f, extent)));
    }
    const float scale = xcrop_ftz(__fmul_rn(xcrop_ftz(__fsub_rn(hi, lo)), ratio));
    return xcrop_ftz(__fadd_rn(xcrop_ftz(__fmul_rn(lo, extent)),
                               xcrop_ftz(__fmul_rn(__ll2float_rn(k), scale))));
}

// TF's `float += term` of the box gradient: in float32, or (wide: a crop size of 1 on some
// axis) through double, rounded once.
__device__ __forceinline__ float xcrop_box_add(float acc, float term, bool wide) {
    if (wide) {
        return xcrop_ftz(__double2float_rn(__dadd_rn((double)acc, (double)term)));
    }
    return xcrop_ftz(__fadd_rn(acc, term));
}

// Inputs: grads (n, crop_h, crop_w, D) float32; image (B, H, W, D) of the kernel's dtype
// (float16 as raw bits); boxes (n, 4) float32; box_index (n,) int64 in [0, B); ratio_y,
// ratio_x = float32((H - 1) / (crop_h - 1)), float32((W - 1) / (crop_w - 1)) (a double
// quotient rounded once, 0 for a crop size of 1). Output: out (n, 4) float32.
template <typename T, typename Conv>
__device__ __forceinline__ void xcrop_grad_boxes(
    const float* __restrict__ grads, const T* __restrict__ image,
    const float* __restrict__ boxes, const long long* __restrict__ box_index, long long n,
    long long height, long long width, long long depth, long long crop_h, long long crop_w,
    float ratio_y, float ratio_x, float* __restrict__ out) {
    const float yext = __ll2float_rn(height - 1);
    const float xext = __ll2float_rn(width - 1);
    const bool wide = crop_h == 1 || crop_w == 1;
    xcrop_for_each(2 * n, [&](long long e) {
        const long long i = e >> 1;
        const bool axis_y = (e & 1) == 0;  // else the x axis
        const float y1 = xcrop_ftz(boxes[4 * i]);
        const float x1 = xcrop_ftz(boxes[4 * i + 1]);
        const float y2 = xcrop_ftz(boxes[4 * i + 2]);
        const float x2 = xcrop_ftz(boxes[4 * i + 3]);
        // This thread's axis: its crop size, extent and, for a crop size of 1, TF's double
        // factor 0.5 * (size - 1) (exact).
        const long long count = axis_y ? crop_h : crop_w;
        const float ext = axis_y ? yext : xext;
        const float ratio = axis_y ? ratio_y : ratio_x;
        const double half = __dmul_rn(0.5, (double)ext);
        const T* base = image + box_index[i] * height * width * depth;
        float acc_lo = 0.0f;  // y1 or x1
        float acc_hi = 0.0f;  // y2 or x2
        for (long long r = 0; r < crop_h; ++r) {
            const float cy = xcrop_box_coordinate(y1, y2, yext, ratio_y, crop_h, r);
            if (!xcrop_inside(cy, yext)) {
                continue;
            }
            const XcropNeighbours ys = xcrop_bilinear_neighbours(cy, yext);
            const T* top_row = base + ys.low * width * depth;
            const T* bottom_row = base + ys.high * width * depth;
            for (long long c = 0; c < crop_w; ++c) {
                const float cx = xcrop_box_coordinate(x1, x2, xext, ratio_x, crop_w, c);
                if (!xcrop_inside(cx, xext)) {
                    continue;
                }
                const XcropNeighbours xs = xcrop_bilinear_neighbours(cx, xext);
                // Edge weights of this sample along the thread's axis (generic _edge_weights).
                const float k = __ll2float_rn(axis_y ? r : c);
                const float w_hi = xcrop_ftz(__fmul_rn(k, ratio));
                const float w_lo = xcrop_ftz(__fsub_rn(ext, w_hi));
                // The other axis' lerp weight and the pixel pairs whose differences count.
                const float t = axis_y ? xs.lerp : ys.lerp;
                const float t_rest = xcrop_ftz(__fsub_rn(1.0f, t));
                const float* grow = grads + ((i * crop_h + r) * crop_w + c) * depth;
                for (long long d = 0; d < depth; ++d) {
                    const XcropCorners p = xcrop_corners<Conv>(top_row, bottom_row,
                                                               xs.low * depth + d,
                                                               xs.high * depth + d);
                    // image_grad_y = (1 - x_lerp) * (BL - TL) + x_lerp * (BR - TR),
                    // image_grad_x = (1 - y_lerp) * (TR - TL) + y_lerp * (BR - BL).
                    const float near_diff = axis_y ? __fsub_rn(p.bl, p.tl) : __fsub_rn(p.tr, p.tl);
                    const float far_diff = axis_y ? __fsub_rn(p.br, p.tr) : __fsub_rn(p.br, p.bl);
                    const float mix = xcrop_ftz(
                        __fadd_rn(xcrop_ftz(__fmul_rn(t_rest, xcrop_ftz(near_diff))),
                                  xcrop_ftz(__fmul_rn(t, xcrop_ftz(far_diff)))));
                    const float grad = xcrop_ftz(__fmul_rn(mix, xcrop_ftz(grow[d])));
                    if (count == 1) {
                        // TF: float += grad * 0.5 * (size - 1), a double product (exact).
                        const double term = __dmul_rn((double)grad, half);
                        acc_lo = xcrop_ftz(__double2float_rn(__dadd_rn((double)acc_lo, term)));
                        acc_hi = xcrop_ftz(__double2float_rn(__dadd_rn((double)acc_hi, term)));
                    } else {
                        acc_lo = xcrop_box_add(acc_lo, xcrop_ftz(__fmul_rn(grad, w_lo)), wide);
                        acc_hi = xcrop_box_add(acc_hi, xcrop_ftz(__fmul_rn(grad, w_hi)), wide);
                    }
                }
            }
        }
        const long long col = axis_y ? 0 : 1;
        out[4 * i + col] = acc_lo;
        out[4 * i + col + 2] = acc_hi;
    });
}

// Entry points: xcrop_grad_image_<method>_<image dtype>, xcrop_grad_boxes_<image dtype>.
#define XCROP_GRAD_IMAGE_KERNEL(METHOD, NEAREST, SUFFIX, ACC, OUT)                           \
    extern "C" __global__ void xcrop_grad_image_##METHOD##_##SUFFIX(                         \
        const float* __restrict__ grads, const float* __restrict__ in_y,                     \
        const float* __restrict__ in_x, const long long* __restrict__ box_index,             \
        long long n, long long batch, long long height, long long width, long long depth,    \
        long long crop_h, long long crop_w, OUT* __restrict__ out) {                         \
        xcrop_grad_image<NEAREST, ACC>(grads, in_y, in_x, box_index, n, batch, height,       \
                                       width, depth, crop_h, crop_w, out);                   \
    }

XCROP_GRAD_IMAGE_KERNEL(bilinear, false, float16, XcropAccF16, unsigned short)
XCROP_GRAD_IMAGE_KERNEL(bilinear, false, float32, XcropAccF32, float)
XCROP_GRAD_IMAGE_KERNEL(bilinear, false, float64, XcropAccF64, double)
XCROP_GRAD_IMAGE_KERNEL(nearest, true, float16, XcropAccF16, unsigned short)
XCROP_GRAD_IMAGE_KERNEL(nearest, true, float32, XcropAccF32, float)
XCROP_GRAD_IMAGE_KERNEL(nearest, true, float64, XcropAccF64, double)

#define XCROP_GRAD_BOXES_KERNEL(SUFFIX, T, CONV)                                             \
    extern "C" __global__ void xcrop_grad_boxes_##SUFFIX(                                    \
        const float* __restrict__ grads, const T* __restrict__ image,                        \
        const float* __restrict__ boxes, const long long* __restrict__ box_index,            \
        long long n, long long height, long long width, long long depth, long long crop_h,   \
        long long crop_w, float ratio_y, float ratio_x, float* __restrict__ out) {           \
        xcrop_grad_boxes<T, CONV>(grads, image, boxes, box_index, n, height, width, depth,   \
                                  crop_h, crop_w, ratio_y, ratio_x, out);                    \
    }

XCROP_IMAGE_DTYPES(XCROP_GRAD_BOXES_KERNEL)
