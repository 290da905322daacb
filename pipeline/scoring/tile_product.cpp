#include "scoring/tile_product.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <new>
#include <utility>

#include "util/simd.h"

namespace recs {
namespace {

// One vector register's worth of movies (util/simd.h), and the three
// operations the kernel needs. Every lane does the same fused multiply-add a
// scalar std::fma does (single rounding), so the width changes speed, not
// scores.
using simd::kLanes;
using simd::Vec;
// Users per micro-tile: R x 2 accumulators in (most of) the registers.
constexpr int kRows = kLanes == 16 ? 12 : kLanes == 8 ? 6 : 4;
inline Vec vzero() { return simd::zero(); }
inline Vec vload(const float* p) { return simd::load_aligned(p); }
inline Vec vbroadcast(const float* p) { return simd::set(*p); }
inline Vec vfma(Vec a, Vec b, Vec c) { return simd::fma(a, b, c); }
inline void vstore(float* p, Vec v) { simd::store(p, v); }

constexpr int kWidth = 2 * kLanes;  // movies per panel
constexpr std::size_t kAlign = 64;

// R users x one panel of kWidth movies into out (R rows of `stride`, kWidth
// columns each). Users: at(k, r) points to factor k of user r, either of
// users packed factor-major (u[k * R + r]) or of R separate rows; both give
// the same fused multiply-adds in the same order.
template <int R, typename At>
void micro_tile_at(At at, const float* panel, int d, float* out, std::size_t stride) {
  Vec acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vzero();
  for (int k = 0; k < d; ++k) {
    const Vec b0 = vload(panel + static_cast<std::size_t>(k) * kWidth);
    const Vec b1 = vload(panel + static_cast<std::size_t>(k) * kWidth + kLanes);
    for (int r = 0; r < R; ++r) {
      const Vec ar = vbroadcast(at(k, r));
      acc[r][0] = vfma(ar, b0, acc[r][0]);
      acc[r][1] = vfma(ar, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    vstore(out + r * stride, acc[r][0]);
    vstore(out + r * stride + kLanes, acc[r][1]);
  }
}

// Users packed factor-major.
template <int R>
void micro_tile(const float* u, const float* panel, int d, float* out, std::size_t stride) {
  micro_tile_at<R>([u](int k, int r) { return u + static_cast<std::size_t>(k) * R + r; }, panel, d,
                   out, stride);
}

// Users as R row pointers, read in place.
template <int R>
void micro_tile_rows(const float* const* users, const float* panel, int d, float* out,
                     std::size_t stride) {
  const float* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = users[r];
  micro_tile_at<R>([&rows](int k, int r) { return rows[r] + k; }, panel, d, out, stride);
}

using MicroTile = void (*)(const float*, const float*, int, float*, std::size_t);
using MicroTileRows = void (*)(const float* const*, const float*, int, float*, std::size_t);

template <std::size_t... I>
constexpr std::array<MicroTile, sizeof...(I)> micro_tiles(std::index_sequence<I...>) {
  return {&micro_tile<static_cast<int>(I) + 1>...};
}

template <std::size_t... I>
constexpr std::array<MicroTileRows, sizeof...(I)> micro_tiles_rows(std::index_sequence<I...>) {
  return {&micro_tile_rows<static_cast<int>(I) + 1>...};
}

// micro_tile<R> and micro_tile_rows<R> for R = 1 .. kRows, at R - 1.
constexpr auto kMicroTiles = micro_tiles(std::make_index_sequence<kRows>());
constexpr auto kMicroTilesRows = micro_tiles_rows(std::make_index_sequence<kRows>());

}  // namespace

int tile_panel_width() { return kWidth; }

void PackedMovies::Free::operator()(float* p) const { std::free(p); }

PackedMovies::PackedMovies(const RowMatrix& movies, const std::vector<std::int32_t>& order)
    : rows_(static_cast<int>(movies.rows())), cols_(static_cast<int>(movies.cols())) {
  const std::size_t panels = (static_cast<std::size_t>(rows_) + kWidth - 1) / kWidth;
  const std::size_t panel_size = static_cast<std::size_t>(cols_) * kWidth;
  std::size_t bytes = std::max<std::size_t>(panels * panel_size, 1) * sizeof(float);
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  data_.reset(static_cast<float*>(std::aligned_alloc(kAlign, bytes)));
  if (!data_) throw std::bad_alloc();
  std::fill(data_.get(), data_.get() + bytes / sizeof(float), 0.0f);
  for (int at = 0; at < rows_; ++at) {
    const int m = order.empty() ? at : order[static_cast<std::size_t>(at)];
    float* p = data_.get() + static_cast<std::size_t>(at / kWidth) * panel_size + at % kWidth;
    const float* row = movies.data() + static_cast<std::size_t>(m) * cols_;
    for (int k = 0; k < cols_; ++k) p[static_cast<std::size_t>(k) * kWidth] = row[k];
  }
}

void tile_product_rows(const float* const* users, int nu, const PackedMovies& movies,
                       int movie_begin, int nm, float* tile, std::size_t stride) {
  const int d = movies.cols();
  if (nu <= 0 || nm <= 0) return;
  const int first = movie_begin / kWidth;
  const int last = (movie_begin + nm + kWidth - 1) / kWidth;
  for (int g = 0; g < nu; g += kRows) {
    const int r_count = std::min(kRows, nu - g);
    for (int p = first; p < last; ++p) {
      kMicroTilesRows[static_cast<std::size_t>(r_count) - 1](
          users + g, movies.panel(p), d,
          tile + static_cast<std::size_t>(g) * stride +
              static_cast<std::size_t>(p * kWidth - movie_begin),
          stride);
    }
  }
}

void tile_product(const float* const* users, int nu, const PackedMovies& movies, int movie_begin,
                  int nm, float* tile, std::size_t stride, TileScratch& scratch) {
  const int d = movies.cols();
  if (nu <= 0 || nm <= 0) return;
  scratch.users.resize(static_cast<std::size_t>(nu) * static_cast<std::size_t>(d));
  // Users in groups of kRows, each group factor-major, so the kernel reads
  // one contiguous run per factor.
  for (int g = 0; g < nu; g += kRows) {
    const int r_count = std::min(kRows, nu - g);
    float* packed = scratch.users.data() + static_cast<std::size_t>(g) * d;
    for (int r = 0; r < r_count; ++r) {
      const float* row = users[g + r];
      for (int k = 0; k < d; ++k) packed[static_cast<std::size_t>(k) * r_count + r] = row[k];
    }
  }
  const int first = movie_begin / kWidth;
  const int last = (movie_begin + nm + kWidth - 1) / kWidth;
  for (int p = first; p < last; ++p) {
    const float* panel = movies.panel(p);
    const std::size_t column = static_cast<std::size_t>(p * kWidth - movie_begin);
    for (int g = 0; g < nu; g += kRows) {
      const int r_count = std::min(kRows, nu - g);
      kMicroTiles[static_cast<std::size_t>(r_count) - 1](
          scratch.users.data() + static_cast<std::size_t>(g) * d, panel, d,
          tile + static_cast<std::size_t>(g) * stride + column, stride);
    }
  }
}

float reference_dot(const float* u, const float* v, int d) {
  float s = 0.0f;
  for (int k = 0; k < d; ++k) s = std::fma(u[k], v[k], s);
  return s;
}

}  // namespace recs
