// The vector width the build targets (-march: AVX-512, else AVX2 with FMA,
// else scalar) and the few operations the hand-written kernels use: the
// scoring kernel's tile product (scoring/tile_product.cpp) and als's CG
// products (models/als.cpp). One home for the choice, so both kernels always
// agree on it.
#pragma once

#include <cmath>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace recs::simd {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
using Vec = __m512;
inline Vec zero() { return _mm512_setzero_ps(); }
inline Vec set(float x) { return _mm512_set1_ps(x); }
inline Vec load_aligned(const float* p) { return _mm512_load_ps(p); }  // p 64-byte aligned
inline Vec load(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
inline Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float sum(Vec a) { return _mm512_reduce_add_ps(a); }
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kLanes = 8;
using Vec = __m256;
inline Vec zero() { return _mm256_setzero_ps(); }
inline Vec set(float x) { return _mm256_set1_ps(x); }
inline Vec load_aligned(const float* p) { return _mm256_load_ps(p); }  // p 32-byte aligned
inline Vec load(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
inline Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float sum(Vec a) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}
#else
constexpr int kLanes = 1;  // scalar: the kernels' loops as plain float code
using Vec = float;
inline Vec zero() { return 0.0f; }
inline Vec set(float x) { return x; }
inline Vec load_aligned(const float* p) { return *p; }
inline Vec load(const float* p) { return *p; }
inline void store(float* p, Vec v) { *p = v; }
inline Vec mul(Vec a, Vec b) { return a * b; }
inline Vec add(Vec a, Vec b) { return a + b; }
inline Vec fma(Vec a, Vec b, Vec c) { return std::fma(a, b, c); }
inline float sum(Vec a) { return a; }
#endif

// Each lane's fma is one fused multiply-add with a single rounding, as
// std::fma: the width changes speed, not results.

}  // namespace recs::simd
