// The dense matrix every model exports and every kernel reads: float32,
// row-major, one row per user or movie.
#pragma once

#include <Eigen/Core>

namespace recs {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A model's export: score(u, m) = users.row(u) . movies.row(m).
struct Factors {
  RowMatrix users;
  RowMatrix movies;
};

}  // namespace recs
