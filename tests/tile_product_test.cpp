// The exact kernels' product: every score equals reference_dot bit for bit,
// wherever it falls in a tile, so the plain scan, the pruned scan and
// similar movies agree on any data.
#include "scoring/tile_product.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace recs {
namespace {

RowMatrix normal_rows(int rows, int cols, std::mt19937_64& rng) {
  std::normal_distribution<float> normal;
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

TEST(TileProduct, EveryScoreIsTheReferenceDotWhereverItFalls) {
  std::mt19937_64 rng(21);
  const int w = tile_panel_width();
  for (const int d : {1, 7, 32, 129}) {
    const RowMatrix users = normal_rows(40, d, rng);
    const RowMatrix movies = normal_rows(5 * w + 3, d, rng);
    // The movies reversed, so each lands in another panel and lane.
    std::vector<std::int32_t> order(static_cast<std::size_t>(movies.rows()));
    std::iota(order.rbegin(), order.rend(), 0);
    for (const bool reversed : {false, true}) {
      const PackedMovies packed(movies, reversed ? order : std::vector<std::int32_t>{});
      TileScratch scratch;
      for (const int nu : {1, 5, 13, 40}) {
        // Any subset of users, in any order.
        std::vector<const float*> rows;
        for (int i = 0; i < nu; ++i) rows.push_back(&users((i * 7 + d) % 40, 0));
        for (const int begin : {0, w, 3 * w}) {
          const int nm = static_cast<int>(movies.rows()) - begin;
          const std::size_t stride = static_cast<std::size_t>((nm + w - 1) / w * w);
          std::vector<float> tile(static_cast<std::size_t>(nu) * stride);
          // Packed users (tile_product) and users read in place
          // (tile_product_rows): the same bits.
          for (const bool in_place : {false, true}) {
            std::fill(tile.begin(), tile.end(), -1.0f);
            if (in_place) {
              tile_product_rows(rows.data(), nu, packed, begin, nm, tile.data(), stride);
            } else {
              tile_product(rows.data(), nu, packed, begin, nm, tile.data(), stride, scratch);
            }
            for (int i = 0; i < nu; ++i) {
              for (int j = 0; j < nm; ++j) {
                const int m = reversed ? order[static_cast<std::size_t>(begin + j)] : begin + j;
                const float want = reference_dot(rows[i], &movies(m, 0), d);
                ASSERT_EQ(std::bit_cast<std::uint32_t>(tile[i * stride + j]),
                          std::bit_cast<std::uint32_t>(want))
                    << "d " << d << " nu " << nu << " begin " << begin << " user " << i << " movie "
                    << m << " in place " << in_place;
              }
            }
          }
        }
      }
    }
  }
}

TEST(TileProduct, ReferenceDotIsOneFusedMultiplyAddPerFactorInOrder) {
  // e^2 = 1 + 2^-11 + 2^-24 is not a float: fused with the -1 that came
  // first it is kept exactly, a separate multiply (or the other order)
  // would round it to 1 + 2^-11 first.
  const float e = 1.0f + 0x1p-12f;
  const float u[2] = {-1.0f, e}, v[2] = {1.0f, e};
  EXPECT_EQ(reference_dot(u, v, 2), 0x1p-11f + 0x1p-24f);
  const float u2[2] = {e, -1.0f}, v2[2] = {e, 1.0f};
  EXPECT_EQ(reference_dot(u2, v2, 2), 0x1p-11f);
  EXPECT_EQ(reference_dot(u, v, 0), 0.0f);
}

}  // namespace
}  // namespace recs
