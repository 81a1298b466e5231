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

// One template for both methods: they share the sample lookup and the fill, and differ
// only in how an inside sample reads the image.
template <bool Nearest, typename T, typename Conv>
__device__ __forceinline__ void xcrop_crop(
    const T* __restrict__ image, const float* __restrict__ in_y,
    const float* __restrict__ in_x, const long long* __restrict__ box_index, long long n,
    long long height, long long width, long long depth, long long crop_h, long long crop_w,
    float fill, float* __restrict__ out) {
    // H - 1 and W - 1 are below 2**24 (validated): exact in float32.
    const float ylast = __ll2float_rn(height - 1);
    const float xlast = __ll2float_rn(width - 1);
    xcrop_for_each4(n, crop_h, crop_w, depth, [&](long long e, long long i, long long y,
                                                  long long x, long long d) {
        const float cy = in_y[i * crop_h + y];
        const float cx = in_x[i * crop_w + x];
        if (!(xcrop_inside(cy, ylast) && xcrop_inside(cx, xlast))) {
            out[e] = fill;  // extrapolated: exactly the fill, no blending (docs/semantics.md §1.4)
            return;
        }
        const T* pixels = image + box_index[i] * height * width * depth + d;  // channel d
        const long long row_size = width * depth;
        if (Nearest) {
            const long long row = xcrop_clamped(xcrop_round_half_up(cy), ylast);
            const long long col = xcrop_clamped(xcrop_round_half_up(cx), xlast);
            const float v = Conv::convert(pixels[row * row_size + col * depth]);
            out[e] = Conv::flush_nearest ? xcrop_ftz(v) : v;
            return;
        }
        const XcropNeighbours ys = xcrop_bilinear_neighbours(cy, ylast);
        const XcropNeighbours xs = xcrop_bilinear_neighbours(cx, xlast);
        const XcropCorners p = xcrop_corners<Conv>(pixels + ys.low * row_size,
                                                   pixels + ys.high * row_size,
                                                   xs.low * depth, xs.high * depth);
        const float top_v = xcrop_lerp(p.tl, p.tr, xs.lerp);
        const float bottom_v = xcrop_lerp(p.bl, p.br, xs.lerp);
        out[e] = xcrop_lerp(top_v, bottom_v, ys.lerp);
    });
}

// One extern "C" kernel per (method, dtype): xcrop_crop_<method>_<suffix>.
#define XCROP_CROP_KERNEL(METHOD, NEAREST, SUFFIX, T, CONV)                                  \
    extern "C" __global__ void xcrop_crop_##METHOD##_##SUFFIX(                               \
        const T* __restrict__ image, const float* __restrict__ in_y,                         \
        const float* __restrict__ in_x, const long long* __restrict__ box_index,             \
        long long n, long long height, long long width, long long depth, long long crop_h,   \
        long long crop_w, float fill, float* __restrict__ out) {                             \
        xcrop_crop<NEAREST, T, CONV>(image, in_y, in_x, box_index, n, height, width, depth,  \
                                     crop_h, crop_w, fill, out);                             \
    }
#define XCROP_CROP_KERNELS(SUFFIX, T, CONV)             \
    XCROP_CROP_KERNEL(bilinear, false, SUFFIX, T, CONV) \
    XCROP_CROP_KERNEL(nearest, true, SUFFIX, T, CONV)

XCROP_IMAGE_DTYPES(XCROP_CROP_KERNELS)
