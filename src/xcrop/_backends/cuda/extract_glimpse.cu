// extract_glimpse forward: one thread per output element, one launch for the whole batch.
//
// Inputs (all C-contiguous):
//   input            (B, H, W, D) float32, H > 0 and W > 0;
//   start_y, start_x (B,) int32 window corners, truncated exactly as xcrop's generic path
//                    (xcrop/_reference/extract_glimpse.py: TF's float32 recipe, docs/semantics.md §2.2);
//   mode             0: zero fill; 1: xcrop's seeded uniform fill, lo and hi (B,) the min
//                    and max of each image; 2: xcrop's seeded gaussian fill, mean, sigma,
//                    lo and hi (B * D,) per image and channel (computed by the generic
//                    path's own portable reductions); key0/key1 the seed's two halves and
//                    stream the random stream (xcrop._reference.extract_glimpse).
// Output: out (B, gh, gw, D) float32: out[b, r, c, d] = input[b, sy + r, sx + c, d] where
// that pixel exists (a bit copy), fill elsewhere (docs/semantics.md §2.3).
//
// The uniform fill reproduces xcrop._core.random.uniform bit for bit: element e of the output
// (C order) takes word e % 2 of Threefry-2x32-20 block e / 2 with counter
// (block | kind << 31, stream), kind = 0, under the key (seed mod 2**32, seed >> 32); its
// top 24 bits m give u = m * 2**-24 (exact), and the fill is u * (hi - lo) + lo in float32
// with lo, hi the min and max of the whole image of that batch element (docs/semantics.md §2.4), each
// operation rounded separately (no FMA). The gaussian fill reproduces
// xcrop._core.random.standard_normal the same way (its log, sqrt, cos and sin are built from
// + - * / only, so they port exactly), then clip(z * sigma + mean, lo, hi) per channel.
#include "common.cuh"

// Threefry-2x32-20 (Random123; the key schedule parity is 0x1BD11BDA) of the counter
// (x0, x1) under the key (key0, key1): the block function of xcrop._core.random.
__device__ __forceinline__ unsigned int xcrop_rotl32(unsigned int x, int r) {
    return (x << r) | (x >> (32 - r));
}

#define XCROP_TF_ROUND(R)        \
    x0 += x1;                    \
    x1 = xcrop_rotl32(x1, (R)); \
    x1 ^= x0;
// Four rounds, then the key injection x0 += K0, x1 += K1 + S.
#define XCROP_TF_ROUNDS(R0, R1, R2, R3, K0, K1, S)                              \
    XCROP_TF_ROUND(R0) XCROP_TF_ROUND(R1) XCROP_TF_ROUND(R2) XCROP_TF_ROUND(R3) \
    x0 += (K0);                                                                 \
    x1 += (K1) + (S);

__device__ __forceinline__ void xcrop_threefry2x32(unsigned int key0, unsigned int key1,
                                                   unsigned int x0, unsigned int x1,
                                                   unsigned int* out0, unsigned int* out1) {
    const unsigned int ks0 = key0;
    const unsigned int ks1 = key1;
    const unsigned int ks2 = key0 ^ key1 ^ 0x1BD11BDAu;
    x0 += ks0;
    x1 += ks1;
    XCROP_TF_ROUNDS(13, 15, 26, 6, ks1, ks2, 1u)
    XCROP_TF_ROUNDS(17, 29, 16, 24, ks2, ks0, 2u)
    XCROP_TF_ROUNDS(13, 15, 26, 6, ks0, ks1, 3u)
    XCROP_TF_ROUNDS(17, 29, 16, 24, ks1, ks2, 4u)
    XCROP_TF_ROUNDS(13, 15, 26, 6, ks2, ks0, 5u)
    *out0 = x0;
    *out1 = x1;
}

#undef XCROP_TF_ROUNDS
#undef XCROP_TF_ROUND

// Uniform float32 in [0, 1) of output element ``index`` (< 2**31), as xcrop._core.random.uniform:
// kind 0, so the top bit of the block counter is clear.
__device__ __forceinline__ float xcrop_uniform01(unsigned int key0, unsigned int key1,
                                                 unsigned int stream, long long index) {
    unsigned int w0, w1;
    xcrop_threefry2x32(key0, key1, (unsigned int)(index >> 1), stream, &w0, &w1);
    const unsigned int word = (index & 1) ? w1 : w0;
    // 24-bit integer -> float32 is exact, and so is the scaling by 2**-24.
    return __fmul_rn(__uint2float_rn(word >> 8), 5.9604644775390625e-08f);
}

// ---- xcrop._core.random.standard_normal, operation for operation -----------------------------
// Only + - * / on float32 (each separately rounded) and integer operations, with the same
// float32 constants (given by their bit patterns, so no compiler rounds a literal).

// Number of significant bits of x (x < 2**31).
__device__ __forceinline__ int xcrop_bit_length(unsigned int x) {
    int n = 0;
    while (x) {
        ++n;
        x >>= 1;
    }
    return n;
}

// log((w + 1) / 2**32) for the 32-bit word w (xcrop._core.random._log_u01).
__device__ __forceinline__ float xcrop_log_u01(unsigned int w) {
    const unsigned long long v = (unsigned long long)w + 1ull;  // in [1, 2**32]
    const int length = v >> 32 ? 33 : xcrop_bit_length((unsigned int)v);
    const int d = length - 24;
    const int s = d > 0 ? d : 0;  // in [0, 9]
    const int t = s - d;          // in [0, 23]
    const int mant = (int)(((v >> s) << t) & 0xFFFFFFFFull);  // 24 bits: [2**23, 2**24)
    const int pow2s = 1 << s;
    const int rem = (int)(v & (unsigned long long)(pow2s - 1));
    const int big = mant > 11863283 ? 1 : 0;  // mantissa above sqrt(2) * 2**23
    const int base = (big + 1) << 23;
    const float e = __int2float_rn(length + big - 33);
    const float num = __fadd_rn(__int2float_rn(mant - base),
                                __fdiv_rn(__int2float_rn(rem), __int2float_rn(pow2s)));
    const float sr = __fdiv_rn(num, __fadd_rn(num, __int2float_rn(base << 1)));
    const float s2 = __fadd_rn(sr, sr);
    const float z = __fmul_rn(sr, sr);
    float p = __fadd_rn(__fmul_rn(z, __uint_as_float(0x3DBA2E8Cu)), __uint_as_float(0x3DE38E39u));
    p = __fadd_rn(__fmul_rn(p, z), __uint_as_float(0x3E124925u));
    p = __fadd_rn(__fmul_rn(p, z), __uint_as_float(0x3E4CCCCDu));
    p = __fadd_rn(__fmul_rn(p, z), __uint_as_float(0x3EAAAAABu));
    const float log_g = __fadd_rn(s2, __fmul_rn(s2, __fmul_rn(z, p)));
    // e * ln2_hi + (e * ln2_lo + log_g), ln2 split for exact e * ln2_hi.
    return __fadd_rn(__fmul_rn(e, __uint_as_float(0x3F317200u)),
                     __fadd_rn(__fmul_rn(e, __uint_as_float(0x35BFBE8Eu)), log_g));
}

// sqrt(x) for x in [2**-56, 2**8), 0 for x <= 0 (xcrop._core.random._sqrt).
__device__ __forceinline__ float xcrop_random_sqrt(float x) {
    float y = __fmul_rn(x, 0.00390625f);  // 2**-8
    float scale = 16.0f;
    // step 16, 8, 4, 2, 1: if y < 4**-step, y *= 4**step and scale *= 2**-step.
    if (y < 2.3283064365386963e-10f) { y = __fmul_rn(y, 4294967296.0f); scale = __fmul_rn(scale, 1.52587890625e-05f); }
    if (y < 1.52587890625e-05f) { y = __fmul_rn(y, 65536.0f); scale = __fmul_rn(scale, 0.00390625f); }
    if (y < 0.00390625f) { y = __fmul_rn(y, 256.0f); scale = __fmul_rn(scale, 0.0625f); }
    if (y < 0.0625f) { y = __fmul_rn(y, 16.0f); scale = __fmul_rn(scale, 0.25f); }
    if (y < 0.25f) { y = __fmul_rn(y, 4.0f); scale = __fmul_rn(scale, 0.5f); }
    float r = __fadd_rn(__fmul_rn(y, __uint_as_float(0x3F2FB0CDu)), __uint_as_float(0x3EAFB0CDu));
    for (int i = 0; i < 3; ++i) {
        r = __fmul_rn(__fadd_rn(r, __fdiv_rn(y, r)), 0.5f);
    }
    return x > 0.0f ? __fmul_rn(r, scale) : 0.0f;
}

// cos and sin of 2 pi k / 2**24 for k in [0, 2**24) (xcrop._core.random._cos_sin_turn).
__device__ __forceinline__ void xcrop_cos_sin_turn(int k, float* cos_out, float* sin_out) {
    const int quadrant = k >> 22;
    int r = k & 0x3FFFFF;
    const bool flip = r > 0x200000;  // second half of the quadrant: use pi/2 - angle
    if (flip) r = 0x400000 - r;
    const float t = __fmul_rn(__int2float_rn(r), 4.76837158203125e-07f);  // 2**-21
    const float z = __fmul_rn(t, t);
    float sin_p = __fadd_rn(__fmul_rn(z, __uint_as_float(0x34A83C1Au)), __uint_as_float(0xB8196966u));
    sin_p = __fadd_rn(__fmul_rn(sin_p, z), __uint_as_float(0x3B2335E3u));
    sin_p = __fadd_rn(__fmul_rn(sin_p, z), __uint_as_float(0xBDA55DE7u));
    sin_p = __fadd_rn(__fmul_rn(sin_p, z), __uint_as_float(0x3F490FDBu));
    sin_p = __fmul_rn(sin_p, t);
    float cos_p = __fadd_rn(__fmul_rn(z, __uint_as_float(0xB2D368F9u)), __uint_as_float(0x3670FA83u));
    cos_p = __fadd_rn(__fmul_rn(cos_p, z), __uint_as_float(0xB9AAE9E4u));
    cos_p = __fadd_rn(__fmul_rn(cos_p, z), __uint_as_float(0x3C81E0F8u));
    cos_p = __fadd_rn(__fmul_rn(cos_p, z), __uint_as_float(0xBE9DE9E6u));
    cos_p = __fadd_rn(__fmul_rn(cos_p, z), __uint_as_float(0x3F800000u));
    const float cos_q = flip ? sin_p : cos_p;
    const float sin_q = flip ? cos_p : sin_p;
    const bool odd = (quadrant & 1) == 1;
    const float cos_abs = odd ? sin_q : cos_q;
    const float sin_abs = odd ? cos_q : sin_q;
    *cos_out = (quadrant == 1 || quadrant == 2) ? -cos_abs : cos_abs;
    *sin_out = quadrant >= 2 ? -sin_abs : sin_abs;
}

// Standard normal float32 of output element ``index`` (< 2**31), as
// xcrop._core.random.standard_normal: Box-Muller on block index / 2 (kind 1: top counter bit
// set), element 2j gets r cos(t), element 2j + 1 gets r sin(t).
__device__ __forceinline__ float xcrop_normal(unsigned int key0, unsigned int key1,
                                              unsigned int stream, long long index) {
    unsigned int w0, w1;
    xcrop_threefry2x32(key0, key1, (unsigned int)(index >> 1) | 0x80000000u, stream, &w0,
                       &w1);
    const float radius = xcrop_random_sqrt(__fmul_rn(-2.0f, xcrop_log_u01(w0)));
    float c, s;
    xcrop_cos_sin_turn((int)(w1 >> 8), &c, &s);
    return __fmul_rn(radius, (index & 1) ? s : c);
}

// NumPy's maximum/minimum: NaN propagates; between equal values (0.0 and -0.0) the
// second operand wins. (CUDA's fmaxf/fminf drop NaNs instead.)
__device__ __forceinline__ float xcrop_np_maximum(float a, float b) {
    return (a > b || a != a) ? a : b;
}
__device__ __forceinline__ float xcrop_np_minimum(float a, float b) {
    return (a < b || a != a) ? a : b;
}

extern "C" __global__ void xcrop_extract_glimpse(
    const float* __restrict__ input, const int* __restrict__ start_y,
    const int* __restrict__ start_x, long long batch, long long height, long long width,
    long long depth, long long glimpse_h, long long glimpse_w, int mode,
    const float* __restrict__ lo, const float* __restrict__ hi,
    const float* __restrict__ mean, const float* __restrict__ sigma, unsigned int key0,
    unsigned int key1, unsigned int stream, float* __restrict__ out) {
    xcrop_for_each4(batch, glimpse_h, glimpse_w, depth, [&](long long e, long long b,
                                                            long long r, long long c,
                                                            long long d) {
        const long long row = (long long)start_y[b] + r;
        const long long col = (long long)start_x[b] + c;
        float v;
        if (row >= 0 && row < height && col >= 0 && col < width) {
            v = input[((b * height + row) * width + col) * depth + d];
        } else if (mode == 1) {
            // lo + U * (hi - lo) as xcrop evaluates it: u * (hi - lo) + lo.
            const float u = xcrop_uniform01(key0, key1, stream, e);
            v = __fadd_rn(__fmul_rn(u, __fsub_rn(hi[b], lo[b])), lo[b]);
        } else if (mode == 2) {
            // clip(N(0, 1) * sigma + mean, min, max) of this batch element and channel.
            const long long k = b * depth + d;
            const float z = xcrop_normal(key0, key1, stream, e);
            v = xcrop_np_minimum(xcrop_np_maximum(__fadd_rn(__fmul_rn(z, sigma[k]), mean[k]),
                                                  lo[k]), hi[k]);
        } else {
            v = 0.0f;
        }
        out[e] = v;
    });
}
