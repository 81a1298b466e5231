// crop_and_resize forward, TF CPU bit for bit: one thread per output element, one launch
// for all boxes.
//
// Inputs (all C-contiguous):
//   image      (B, H, W, D) of the kernel's dtype (float16 passed as its raw 16-bit words)
//   in_y       (n, crop_h) float32 sample rows and
//   in_x       (n, crop_w) float32 sample columns, computed once by xcrop's validation
//              (xcrop/_core/coordinates.py, TF's exact float32 recipe, docs/semantics.md §1.3): the kernel
//              only gathers and interpolates;
//   box_index  (n,) int64, every value in [0, B) (validated);
//   fill       extrapolation_value rounded to float32.
// Output: out (n, crop_h, crop_w, D) float32.
//
// Per element this performs exactly the operations of xcrop's generic path
// (xcrop/_reference/crop_and_resize.py) and of its numba kernel, in the same order:
//   inside    = 0 <= c <= size - 1 on both axes (strict outside test, docs/semantics.md §1.4), else fill;
//   bilinear  top = floor(cy), bottom = ceil(cy), y_lerp = cy - top (exact), same for x;
//             the four pixels converted to float32 and flushed; then
//             top_v = lerp(TL, TR, x_lerp), bot_v = lerp(BL, BR, x_lerp),
//             out = lerp(top_v, bot_v, y_lerp), lerp(a, b, t) = ftz(a + ftz(ftz(b - a) * t));
//   nearest   index = floor(c) + (c - floor(c) >= 0.5): C roundf for c >= 0 (docs/semantics.md §1.6; not
//             floor(c + 0.5), wrong at 0.49999997); the pixel converted to float32 (flushed
//             for float64 images only).
#include "common.cuh"

// Index of a coordinate known to lie in [0, size - 1], clamped like the generic path does
// (a no-op for inside samples; it keeps every read in bounds whatever the input).
__device__ __forceinline__ long long xcrop_clamped(float c, float last) {
    return (long long)fminf(fmaxf(c, 0.0f), last);
}

template <typename T, typename Conv>
__device__ __forceinline__ void xcrop_crop_bilinear(
    const T* __restrict__ image, const float* __restrict__ in_y,
    const float* __restrict__ in_x, const long long* __restrict__ box_index, long long n,
    long long height, long long width, long long depth, long long crop_h, long long crop_w,
    float fill, float* __restrict__ out) {
    const long long total = n * crop_h * crop_w * depth;
    // H - 1 and W - 1 are below 2**24 (validated): exact in float32.
    const float ylast = __ll2float_rn(height - 1);
    const float xlast = __ll2float_rn(width - 1);
    for (long long e = xcrop_first_index(); e < total; e += xcrop_grid_stride()) {
        long long q = e;
        const long long d = q % depth;
        q /= depth;
        const long long x = q % crop_w;
        q /= crop_w;
        const long long y = q % crop_h;
        const long long i = q / crop_h;
        const float cy = in_y[i * crop_h + y];
        const float cx = in_x[i * crop_w + x];
        if (!(cy >= 0.0f && cy <= ylast && cx >= 0.0f && cx <= xlast)) {
            out[e] = fill;  // extrapolated: exactly the fill, no blending (docs/semantics.md §1.4)
            continue;
        }
        const float top_f = floorf(cy);
        const float left_f = floorf(cx);
        const long long top = xcrop_clamped(top_f, ylast);
        const long long bottom = xcrop_clamped(ceilf(cy), ylast);
        const long long left = xcrop_clamped(left_f, xlast);
        const long long right = xcrop_clamped(ceilf(cx), xlast);
        const float y_lerp = __fsub_rn(cy, top_f);
        const float x_lerp = __fsub_rn(cx, left_f);
        const long long row0 = box_index[i] * height;
        const T* top_row = image + (row0 + top) * width * depth + d;
        const T* bottom_row = image + (row0 + bottom) * width * depth + d;
        const float tl = xcrop_ftz(Conv::convert(top_row[left * depth]));
        const float tr = xcrop_ftz(Conv::convert(top_row[right * depth]));
        const float bl = xcrop_ftz(Conv::convert(bottom_row[left * depth]));
        const float br = xcrop_ftz(Conv::convert(bottom_row[right * depth]));
        const float top_v = xcrop_lerp(tl, tr, x_lerp);
        const float bottom_v = xcrop_lerp(bl, br, x_lerp);
        out[e] = xcrop_lerp(top_v, bottom_v, y_lerp);
    }
}

// C roundf for c >= 0, as floor(c) + (c - floor(c) >= 0.5); c - floor(c) is exact.
__device__ __forceinline__ float xcrop_round_half_up(float c) {
    const float low = floorf(c);
    return __fsub_rn(c, low) >= 0.5f ? __fadd_rn(low, 1.0f) : low;
}

template <typename T, typename Conv>
__device__ __forceinline__ void xcrop_crop_nearest(
    const T* __restrict__ image, const float* __restrict__ in_y,
    const float* __restrict__ in_x, const long long* __restrict__ box_index, long long n,
    long long height, long long width, long long depth, long long crop_h, long long crop_w,
    float fill, float* __restrict__ out) {
    const long long total = n * crop_h * crop_w * depth;
    const float ylast = __ll2float_rn(height - 1);
    const float xlast = __ll2float_rn(width - 1);
    for (long long e = xcrop_first_index(); e < total; e += xcrop_grid_stride()) {
        long long q = e;
        const long long d = q % depth;
        q /= depth;
        const long long x = q % crop_w;
        q /= crop_w;
        const long long y = q % crop_h;
        const long long i = q / crop_h;
        const float cy = in_y[i * crop_h + y];
        const float cx = in_x[i * crop_w + x];
        if (!(cy >= 0.0f && cy <= ylast && cx >= 0.0f && cx <= xlast)) {
            out[e] = fill;
            continue;
        }
        const long long row = xcrop_clamped(xcrop_round_half_up(cy), ylast);
        const long long col = xcrop_clamped(xcrop_round_half_up(cx), xlast);
        const float v = Conv::convert(image[((box_index[i] * height + row) * width + col) * depth + d]);
        out[e] = Conv::flush_nearest ? xcrop_ftz(v) : v;
    }
}

// One extern "C" kernel per (method, dtype): xcrop_crop_<method>_<suffix>.
#define XCROP_CROP_KERNELS(SUFFIX, T, CONV)                                                  \
    extern "C" __global__ void xcrop_crop_bilinear_##SUFFIX(                                 \
        const T* __restrict__ image, const float* __restrict__ in_y,                         \
        const float* __restrict__ in_x, const long long* __restrict__ box_index,             \
        long long n, long long height, long long width, long long depth, long long crop_h,   \
        long long crop_w, float fill, float* __restrict__ out) {                             \
        xcrop_crop_bilinear<T, CONV>(image, in_y, in_x, box_index, n, height, width, depth,  \
                                     crop_h, crop_w, fill, out);                             \
    }                                                                                        \
    extern "C" __global__ void xcrop_crop_nearest_##SUFFIX(                                  \
        const T* __restrict__ image, const float* __restrict__ in_y,                         \
        const float* __restrict__ in_x, const long long* __restrict__ box_index,             \
        long long n, long long height, long long width, long long depth, long long crop_h,   \
        long long crop_w, float fill, float* __restrict__ out) {                             \
        xcrop_crop_nearest<T, CONV>(image, in_y, in_x, box_index, n, height, width, depth,   \
                                    crop_h, crop_w, fill, out);                              \
    }

XCROP_CROP_KERNELS(uint8, unsigned char, XcropFromU8)
XCROP_CROP_KERNELS(int8, signed char, XcropFromI8)
XCROP_CROP_KERNELS(uint16, unsigned short, XcropFromU16)
XCROP_CROP_KERNELS(int16, short, XcropFromI16)
XCROP_CROP_KERNELS(int32, int, XcropFromI32)
XCROP_CROP_KERNELS(int64, long long, XcropFromI64)
XCROP_CROP_KERNELS(float16, unsigned short, XcropFromF16)
XCROP_CROP_KERNELS(float32, float, XcropFromF32)
XCROP_CROP_KERNELS(float64, double, XcropFromF64)
