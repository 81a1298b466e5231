// xcrop CUDA kernels: helpers shared by crop_and_resize.cu and extract_glimpse.cu.
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
struct XcropFromU8 {
    static const bool flush_nearest = false;
    __device__ __forceinline__ static float convert(unsigned char v) {
        return __int2float_rn((int)v);
    }
};
struct XcropFromI8 {
    static const bool flush_nearest = false;
    __device__ __forceinline__ static float convert(signed char v) {
        return __int2float_rn((int)v);
    }
};
struct XcropFromU16 {
    static const bool flush_nearest = false;
    __device__ __forceinline__ static float convert(unsigned short v) {
        return __int2float_rn((int)v);
    }
};
struct XcropFromI16 {
    static const bool flush_nearest = false;
    __device__ __forceinline__ static float convert(short v) {
        return __int2float_rn((int)v);
    }
};
struct XcropFromI32 {
    static const bool flush_nearest = false;
    __device__ __forceinline__ static float convert(int v) { return __int2float_rn(v); }
};
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

// First element handled by this thread and the grid stride (grid-stride loops, so any
// launch geometry covers any size).
__device__ __forceinline__ long long xcrop_first_index() {
    return (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;
}
__device__ __forceinline__ long long xcrop_grid_stride() {
    return (long long)blockDim.x * (long long)gridDim.x;
}

#endif  // XCROP_CUDA_COMMON_CUH
