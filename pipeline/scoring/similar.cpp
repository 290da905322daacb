#include "scoring/similar.h"

#include <algorithm>

#include "scoring/angular.h"
#include "scoring/topn.h"

namespace recs {
namespace {

bool constant_column(const RowMatrix& m, Eigen::Index c) {
  if (m.rows() < 2) return false;
  return (m.col(c).array() == m(0, c)).all();
}

}  // namespace

std::vector<int> taste_columns(const RowMatrix& users, const RowMatrix& movies) {
  std::vector<int> out;
  for (Eigen::Index c = 0; c < movies.cols(); ++c) {
    if (!constant_column(users, c) && !constant_column(movies, c))
      out.push_back(static_cast<int>(c));
  }
  return out;
}

RowMatrix select_columns(const RowMatrix& m, const std::vector<int>& columns) {
  bool every = static_cast<Eigen::Index>(columns.size()) == m.cols();
  for (std::size_t j = 0; every && j < columns.size(); ++j)
    every = columns[j] == static_cast<int>(j);
  if (every) return m;
  // Row by row: the matrix is row-major, so a column at a time would touch
  // every row's cache line once per column.
  RowMatrix out(m.rows(), static_cast<Eigen::Index>(columns.size()));
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    const float* from = m.row(i).data();
    float* to = out.row(i).data();
    for (std::size_t j = 0; j < columns.size(); ++j) to[j] = from[columns[j]];
  }
  return out;
}

RowMatrix unit_rows(const RowMatrix& m, const std::vector<int>& columns) {
  RowMatrix out = select_columns(m, columns);
  for (Eigen::Index i = 0; i < out.rows(); ++i) {
    const float norm = out.row(i).norm();
    if (norm > 0) out.row(i) /= norm;
  }
  return out;
}

TopNBlock similar_movies(const RowMatrix& movies, const std::vector<int>& columns,
                         const std::vector<std::int32_t>& candidates, int top_k, int threads,
                         const SimilarOptions& options) {
  RowMatrix unit = unit_rows(movies, columns);
  RowMatrix cand(static_cast<Eigen::Index>(candidates.size()), unit.cols());
  for (std::size_t j = 0; j < candidates.size(); ++j) {
    cand.row(static_cast<Eigen::Index>(j)) = unit.row(candidates[j]);
  }
  // Mask each movie itself, in the candidates' index space.
  UserItems self;
  self.indptr.reserve(static_cast<std::size_t>(movies.rows()) + 1);
  self.indptr.push_back(0);
  for (Eigen::Index i = 0; i < movies.rows(); ++i) {
    auto it = std::lower_bound(candidates.begin(), candidates.end(), static_cast<std::int32_t>(i));
    if (it != candidates.end() && *it == i) {
      self.indices.push_back(static_cast<std::int32_t>(it - candidates.begin()));
    }
    self.indptr.push_back(static_cast<std::int64_t>(self.indices.size()));
  }
  if (options.prune) {
    AngularOptions angular;
    angular.top_n = top_k;
    angular.threads = threads;
    angular.skipped = options.skipped;
    return score_top_n_angular(unit, cand, &self, angular);
  }
  TopNOptions plain;
  plain.top_n = top_k;
  plain.threads = threads;
  return score_top_n(unit, cand, &self, plain);
}

}  // namespace recs
