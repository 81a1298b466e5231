// Host shim: compile xcrop's CUDA kernel sources as plain C++ and run them on the CPU.
//
// Used by tests/test_cuda_source.py, which includes this header and then the .cu files,
// builds a shared library with g++ (-O2 -ffp-contract=off -fno-fast-math, SSE arithmetic)
// and calls the kernels through ctypes on NumPy buffers. The CUDA built-ins the kernels
// use are mapped to their host equivalents:
//   * __fadd_rn / __fsub_rn / __fmul_rn / __fdiv_rn (and __dadd_rn / __dmul_rn): one
//     correctly rounded float32 (float64) operation each
//     (x86-64 SSE, no x87 excess precision, no contraction into FMA);
//   * __int2float_rn / __uint2float_rn / __ll2float_rn / __double2float_rn: C conversions,
//     which round to nearest under the default MXCSR; __float_as_uint / __uint_as_float:
//     bit copies;
//   * blockIdx/threadIdx/blockDim/gridDim: globals set per emulated thread by
//     xcrop_shim_set_thread() before each kernel call (the kernels use grid-stride loops,
//     so calling a kernel once per emulated (block, thread) covers the whole output).
// xcrop_shim_set_ftz() switches the SSE flush-to-zero/denormals-are-zero bits, to run the
// kernels as CuPy compiles them (-ftz=true).
#ifndef XCROP_CUDA_HOST_SHIM_H
#define XCROP_CUDA_HOST_SHIM_H

#include <math.h>
#include <string.h>
#include <xmmintrin.h>

#if defined(__FMA__) || defined(__FP_FAST_FMAF)
#error "build the host shim without FMA contraction (-ffp-contract=off, no -mfma/-march)"
#endif
#if defined(__FAST_MATH__)
#error "build the host shim without -ffast-math"
#endif

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict

struct XcropShimDim3 {
    unsigned int x, y, z;
};
static XcropShimDim3 blockIdx = {0, 0, 0};
static XcropShimDim3 threadIdx = {0, 0, 0};
static XcropShimDim3 blockDim = {1, 1, 1};
static XcropShimDim3 gridDim = {1, 1, 1};

extern "C" void xcrop_shim_set_thread(unsigned int grid, unsigned int block,
                                      unsigned int block_index, unsigned int thread_index) {
    gridDim.x = grid;
    blockDim.x = block;
    blockIdx.x = block_index;
    threadIdx.x = thread_index;
}

// Returns the previous MXCSR so the caller can restore it.
extern "C" unsigned int xcrop_shim_set_ftz(int on) {
    const unsigned int old = _mm_getcsr();
    const unsigned int bits = 0x8040u;  // FTZ (bit 15) | DAZ (bit 6)
    _mm_setcsr(on ? (old | bits) : (old & ~bits));
    return old;
}

extern "C" void xcrop_shim_restore_csr(unsigned int csr) { _mm_setcsr(csr); }

static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __int2float_rn(int v) { return (float)v; }
static inline float __uint2float_rn(unsigned int v) { return (float)v; }
static inline float __ll2float_rn(long long v) { return (float)v; }
static inline float __double2float_rn(double v) { return (float)v; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline unsigned int __float_as_uint(float v) {
    unsigned int u;
    memcpy(&u, &v, sizeof u);
    return u;
}
static inline float __uint_as_float(unsigned int v) {
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

#endif  // XCROP_CUDA_HOST_SHIM_H
