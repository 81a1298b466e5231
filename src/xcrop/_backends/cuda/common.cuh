// xcrop CUDA kernels: helpers shared by crop_and_resize.cu, extract_glimpse.cu and gradients.cu.
//
// Plain CUDA C++ (no CUDA header is included), so the same text compiles
//   * with NVRTC through cupy.RawModule (xcrop._backends.cuda.paths concatenates the files),
//   * with nvcc (tests/test_cuda_source.py), and
//   * as host C++ behind tests/_cuda_host_shim.h, which the tests run against the
//     recorded TensorFlow fixtures.
//
// Exactness rules every kernel follows (TF CPU is the reference, docs/semantics.md §1.5-1.6):
//   * every float32 add/sub/mul is an explicit __fadd_rn/__fsub_rn/__fmul_rn: these are
//     never contracted into a fused multiply-add, whatever --fmad says;
//   * TF's CPU kernel runs with flush-to-zero; xcrop_ftz() reproduces it explicitly where
//     the generic path flushes, so the result is the same whether the module is compiled
//     with -ftz=true (CuPy always adds it) or -ftz=false: with hardware FTZ the flushes
//     below are identities on already-flushed values, and no unflushed operand reaches an
//     arithmetic instruction;
//   * integer -> float32 and float64 -> float32 conversions round to nearest (_rn).
#ifndef XCROP_CUDA_COMMON_CUH
#define XCROP_CUDA_COMMON_CUH

// Smallest positive normal float32, 2**-126.
#define XCROP_FLT_MIN 1.17549435082228750797e-38f

// A subnormal float32 becomes a zero of the same sign (TF's FTZ mode); NaN passes.
__device__ __forceinline__ float xcrop_ftz(float v) {
    return fabsf(v) < XCROP_FLT_MIN ? copysignf(0.0f, v) : v;
}

// a + (b - a) * t under flush-to-zero, in this order (docs/semantics.md §1.5), never an FMA.
__device__ __forceinline__ float xcrop_lerp(float a, float b, float t) {
    return xcrop_ftz(__fadd_rn(a, xcrop_ftz(__fmul_rn(xcrop_ftz(__fsub_rn(b, a)), t))));
}

// Pixel -> float32 conversions, one functor per accepted image dtype. ``flush_nearest``
// says whether the nearest-neighbour copy flushes the converted value: only a float64
// conversion can produce a subnormal that a float32 copy would not (the generic path
// flushes exactly there).
// Integers of at most 32 bits: exact in int, then one rounding to float32.
template <typename T>
struct XcropFromInt {
    static const bool flush_nearest = false;
    __device__ __forceinline__ static float convert(T v) { return __int2float_rn((int)v); }
};
typedef XcropFromInt<unsigned char> XcropFromU8;
typedef XcropFromInt<signed char> XcropFromI8;
typedef XcropFromInt<unsigned short> XcropFromU16;
typedef XcropFromInt<short> XcropFromI16;
typedef XcropFromInt<int> XcropFromI32;
struct XcropFromI64 {
    static const bool flush_nearest = false;
    // Round to nearest even: 2**53 + 1 -> 2**53 (docs/semantics.md §1.1).
    __device__ __forceinline__ static float convert(long long v) { return __ll2float_rn(v); }
};
struct XcropFromF16 {
    static const bool flush_nearest = false;
    // IEEE binary16 bits -> float32, exact, with integer operations only: no dependency
    // on cuda_fp16.h (not always on NVRTC's include path) and identical on the host.
    __device__ __forceinline__ static float convert(unsigned short h) {
        const unsigned int sign = ((unsigned int)h & 0x8000u) << 16;
        const unsigned int exp = ((unsigned int)h >> 10) & 0x1Fu;
        const unsigned int mant = (unsigned int)h & 0x3FFu;
        if (exp == 0u) {
            // Zero or subnormal: mant * 2**-24, exact and normal in float32.
            const float mag = __fmul_rn(__int2float_rn((int)mant), 5.9604644775390625e-08f);
            return sign ? -mag : mag;
        }
        if (exp == 31u) {  // inf or NaN (payload kept)
            return __uint_as_float(sign | 0x7F800000u | (mant << 13));
        }
        return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
    }
};
struct XcropFromF32 {
    static const bool flush_nearest = false;
    __device__ __forceinline__ static float convert(float v) { return v; }
};
struct XcropFromF64 {
    static const bool flush_nearest = true;
    __device__ __forceinline__ static float convert(double v) { return __double2float_rn(v); }
};

// Every image dtype: X(suffix, element type, converter), expanded once per family of
// per-dtype kernels (xcrop_crop_*, xcrop_grad_boxes_*); float16 travels as its raw bits.
#define XCROP_IMAGE_DTYPES(X)                \
    X(uint8, unsigned char, XcropFromU8)     \
    X(int8, signed char, XcropFromI8)        \
    X(uint16, unsigned short, XcropFromU16)  \
    X(int16, short, XcropFromI16)            \
    X(int32, int, XcropFromI32)              \
    X(int64, long long, XcropFromI64)        \
    X(float16, unsigned short, XcropFromF16) \
    X(float32, float, XcropFromF32)          \
    X(float64, double, XcropFromF64)

// First element handled by this thread and the grid stride.
__device__ __forceinline__ long long xcrop_first_index() {
    return (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;
}
__device__ __forceinline__ long long xcrop_grid_stride() {
    return (long long)blockDim.x * (long long)gridDim.x;
}

// body(e) for each element e < total this thread owns: a grid-stride loop, so any launch
// geometry covers any size, and each element has exactly one owner.
template <typename Body>
__device__ __forceinline__ void xcrop_for_each(long long total, Body body) {
    for (long long e = xcrop_first_index(); e < total; e += xcrop_grid_stride()) {
        body(e);
    }
}

// The same over a C-ordered (n0, n1, n2, n3) array: body(e, i0, i1, i2, i3), e's indices.
template <typename Body>
__device__ __forceinline__ void xcrop_for_each4(long long n0, long long n1, long long n2,
                                                long long n3, Body body) {
    xcrop_for_each(n0 * n1 * n2 * n3, [&](long long e) {
        long long q = e;
        const long long i3 = q % n3;
        q /= n3;
        const long long i2 = q % n2;
        q /= n2;
        body(e, q / n1, q % n1, i2, i3);
    });
}

// ---- Which pixels a sample reads (xcrop/_reference/indexing.py, the same names) ----------

// The strict inside test of one axis, last = size - 1 (docs/semantics.md §1.4): -0.0 is
// inside, NaN is not.
__device__ __forceinline__ bool xcrop_inside(float c, float last) {
    return c >= 0.0f && c <= last;
}

// Index of a coordinate known to lie in [0, last], clamped like the generic path does
// (a no-op for inside samples; it keeps every read in bounds whatever the input).
__device__ __forceinline__ long long xcrop_clamped(float c, float last) {
    return (long long)fminf(fmaxf(c, 0.0f), last);
}

// Bilinear sampling along one axis (§1.5): the clamped floor and ceil of an inside
// coordinate and its weight c - floor(c) (exact).
struct XcropNeighbours {
    long long low;
    long long high;
    float lerp;
};
__device__ __forceinline__ XcropNeighbours xcrop_bilinear_neighbours(float c, float last) {
    const float low = floorf(c);
    XcropNeighbours n;
    n.low = xcrop_clamped(low, last);
    n.high = xcrop_clamped(ceilf(c), last);
    n.lerp = __fsub_rn(c, low);
    return n;
}

// C roundf for c >= 0, as floor(c) + (c - floor(c) >= 0.5); c - floor(c) is exact
// (§1.6; not floor(c + 0.5), wrong at 0.49999997).
__device__ __forceinline__ float xcrop_round_half_up(float c) {
    const float low = floorf(c);
    return __fsub_rn(c, low) >= 0.5f ? __fadd_rn(low, 1.0f) : low;
}

// The four pixels of a bilinear sample, converted to float32 and flushed: top and bottom
// point into the sample's two rows, left and right are element offsets within a row.
struct XcropCorners {
    float tl, tr, bl, br;
};
template <typename Conv, typename T>
__device__ __forceinline__ XcropCorners xcrop_corners(const T* top, const T* bottom,
                                                      long long left, long long right) {
    XcropCorners p;
    p.tl = xcrop_ftz(Conv::convert(top[left]));
    p.tr = xcrop_ftz(Conv::convert(top[right]));
    p.bl = xcrop_ftz(Conv::convert(bottom[left]));
    p.br = xcrop_ftz(Conv::convert(bottom[right]));
    return p;
}

#endif  // XCROP_CUDA_COMMON_CUH
