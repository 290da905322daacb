// The product every exact kernel forms: a tile of user x movie scores, each
// computed the same way wherever it falls, so that a score does not depend
// on the tile, the block or the position it was computed in.
//
// Each score is u . v summed over the factors in order with one fused
// multiply-add per factor, starting from +0: s = fma(u[k], v[k], s) for
// k = 0 .. d-1 (reference_dot() is the scalar form). The vector lanes run
// over movies, never over factors, so the plain scan, the norm-pruned scan
// (fewer users, movies in another order) and the similar-movies kernel give
// bit-identical scores for the same pair, for any thread count and blocking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "data/matrix.h"

namespace recs {

// Movies per packed panel (a multiple of the vector width; movie blocks are
// rounded up to a multiple of it).
int tile_panel_width();

// Movie vectors in panels of tile_panel_width() movies, each panel stored
// factor-major (d x width) and zero-padded past the last movie, so the
// product's inner loop reads one contiguous run per factor.
class PackedMovies {
 public:
  PackedMovies() = default;
  // Rows of `movies` in the order `order` gives (position -> row); empty
  // order: the rows as they are.
  explicit PackedMovies(const RowMatrix& movies, const std::vector<std::int32_t>& order = {});

  int rows() const { return rows_; }
  int cols() const { return cols_; }
  const float* panel(int p) const {
    return data_.get() + static_cast<std::size_t>(p) * static_cast<std::size_t>(cols_) *
                             static_cast<std::size_t>(tile_panel_width());
  }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  int rows_ = 0;
  int cols_ = 0;
  std::unique_ptr<float[], Free> data_;
};

// Working memory of tile_product, reused across calls by one thread.
struct TileScratch {
  std::vector<float> users;  // one group of user rows, factor-major
};

// tile[i * stride + j] = score of users[i] (a pointer to d floats) and
// packed movie movie_begin + j, for i < nu and j < nm; movie_begin is a
// multiple of tile_panel_width(), stride >= nm rounded up to it (the padding
// columns are written too).
void tile_product(const float* const* users, int nu, const PackedMovies& movies, int movie_begin,
                  int nm, float* tile, std::size_t stride, TileScratch& scratch);

// The same tile without packing the users: each group of users is read in
// place through its row pointers. The scores are tile_product's bit for bit
// (the same multiply-adds in the same order); for a caller that multiplies
// a different few users with each small movie block, where packing them
// would cost a large share of the product.
void tile_product_rows(const float* const* users, int nu, const PackedMovies& movies,
                       int movie_begin, int nm, float* tile, std::size_t stride);

// The score of one pair exactly as tile_product computes it.
float reference_dot(const float* u, const float* v, int d);

}  // namespace recs
