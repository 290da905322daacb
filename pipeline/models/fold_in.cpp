#include "models/fold_in.h"

#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace recs {
namespace {

using Mat = Eigen::MatrixXd;
using Vec = Eigen::VectorXd;

}  // namespace

std::vector<int> constant_columns(const RowMatrix& m) {
  std::vector<int> out;
  if (m.rows() < 2) return out;
  for (Eigen::Index c = 0; c < m.cols(); ++c) {
    const float v = m(0, c);
    if ((m.col(c).array() == v).all()) out.push_back(static_cast<int>(c));
  }
  return out;
}

FoldInResult fold_in(const RowMatrix& trained_users, const RowMatrix& movies,
                     const FoldInRatings& ratings, const FoldInOptions& options) {
  const int d = static_cast<int>(movies.cols());
  if (trained_users.cols() != movies.cols()) {
    throw Error(ExitCode::kInternal, "fold-in: user and movie vectors differ in length");
  }
  const int rows = ratings.rows();
  FoldInResult result;
  result.users = RowMatrix::Zero(rows, d);
  result.solved.assign(static_cast<std::size_t>(rows), 0);
  if (rows == 0) return result;

  // Fixed columns keep the value every trained user has; the rest are solved.
  const std::vector<int> fixed_cols = constant_columns(trained_users);
  std::vector<char> is_fixed(static_cast<std::size_t>(d), 0);
  for (int c : fixed_cols) is_fixed[static_cast<std::size_t>(c)] = 1;
  std::vector<int> free_cols;
  for (int c = 0; c < d; ++c) {
    if (!is_fixed[static_cast<std::size_t>(c)]) free_cols.push_back(c);
  }
  const int f = static_cast<int>(free_cols.size());
  Vec fixed_value = Vec::Zero(d);
  for (int c : fixed_cols) fixed_value(c) = trained_users(0, c);

  // Movie vectors split into the free part (double, for the normal
  // equations) and the fixed part's contribution to every score.
  const Eigen::Index m = movies.rows();
  Mat free(m, f);
  Vec offset(m);  // movie . fixed part of the user
  for (Eigen::Index i = 0; i < m; ++i) {
    for (int j = 0; j < f; ++j) free(i, j) = movies(i, free_cols[static_cast<std::size_t>(j)]);
    offset(i) = options.fit_fixed_part ? movies.row(i).cast<double>().dot(fixed_value) : 0.0;
  }

  // Implicit: every movie contributes with confidence 1 and preference 0.
  Mat gram;
  Vec gram_rhs;
  if (options.implicit) {
    gram = free.transpose() * free;
    gram_rhs = -(free.transpose() * offset);
  }

  const bool graded = options.implicit && options.preference_top > 0;
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<int>(0, rows, 16), [&](const tbb::blocked_range<int>& r) {
      Mat a(f, f);
      Vec b(f);
      for (int u = r.begin(); u < r.end(); ++u) {
        const auto begin = ratings.indptr[static_cast<std::size_t>(u)];
        const auto end = ratings.indptr[static_cast<std::size_t>(u) + 1];
        int used = 0;
        double mass = 0;  // implicit: the sum of the user's confidences
        if (options.implicit) {
          a = gram;
          b = gram_rhs;
        } else {
          a.setZero();
          b.setZero();
        }
        int positives = 0;  // implicit: ratings > 0 and >= the threshold
        for (auto k = begin; k < end; ++k) {
          const int i = ratings.movies[static_cast<std::size_t>(k)];
          const double v = ratings.values[static_cast<std::size_t>(k)];
          const auto row = free.row(i);
          if (options.implicit) {
            const bool positive = v > 0 && v >= options.positive_threshold;
            positives += positive;
            if (!(graded ? v > 0 : positive)) continue;
            const double extra = options.alpha * (options.confidence_by_rating ? v : 1.0);  // c - 1
            const double pref = graded ? std::min(1.0, v / options.preference_top) : 1.0;
            mass += 1.0 + extra;
            // Preference p with confidence c: c (p - offset) y, the c = 1
            // part of -offset y already in gram_rhs.
            a.noalias() += extra * row.transpose() * row;
            b.noalias() += ((1.0 + extra) * pref - extra * offset(i)) * row.transpose();
          } else {
            a.noalias() += row.transpose() * row;
            b.noalias() += (v - offset(i)) * row.transpose();
          }
          ++used;
        }
        if (used == 0 || (options.implicit && positives == 0)) continue;
        double l2 = options.l2;
        if (options.implicit && options.frequency_exponent != 0 && options.mean_mass > 0) {
          l2 *= std::pow(std::max(mass, 1.0) / options.mean_mass, options.frequency_exponent);
        }
        a.diagonal().array() += l2;
        Eigen::LDLT<Mat> ldlt(a);
        Vec x = ldlt.solve(b);
        if (ldlt.info() != Eigen::Success || !x.allFinite()) continue;
        for (int j = 0; j < f; ++j) {
          result.users(u, free_cols[static_cast<std::size_t>(j)]) = static_cast<float>(x(j));
        }
        for (int c : fixed_cols) result.users(u, c) = static_cast<float>(fixed_value(c));
        result.solved[static_cast<std::size_t>(u)] = 1;
      }
    });
  });
  return result;
}

}  // namespace recs
