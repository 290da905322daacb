#include "models/model.h"

#include <cmath>
#include <limits>

#include "util/error.h"

namespace recs {

void check_triplets(const Triplets& t, const char* what, int num_users, int num_movies) {
  if (t.user.size() != t.size() || t.movie.size() != t.size()) {
    throw Error(ExitCode::kInternal, std::string(what) + " ratings: column lengths differ");
  }
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t.user[i] < 0 || t.user[i] >= num_users || t.movie[i] < 0 || t.movie[i] >= num_movies) {
      throw Error(ExitCode::kInternal, std::string(what) + " rating " + std::to_string(i) +
                                           ": user " + std::to_string(t.user[i]) + " or movie " +
                                           std::to_string(t.movie[i]) + " out of range");
    }
    if (!std::isfinite(t.value[i])) {
      throw Error(ExitCode::kInternal,
                  std::string(what) + " rating " + std::to_string(i) + " is not finite");
    }
  }
}

void check_fit_inputs(const Triplets& train, const Triplets& validation, int num_users,
                      int num_movies) {
  if (num_users < 1 || num_movies < 1 || train.size() == 0) {
    throw Error(ExitCode::kInput, "nothing to train on: " + std::to_string(train.size()) +
                                      " ratings, " + std::to_string(num_users) + " users, " +
                                      std::to_string(num_movies) + " movies");
  }
  check_triplets(train, "training", num_users, num_movies);
  check_triplets(validation, "validation", num_users, num_movies);
}

double mse(const Factors& f, const Triplets& data) {
  if (data.user.size() != data.size() || data.movie.size() != data.size()) {
    throw Error(ExitCode::kInternal, "mse: triplet column lengths differ");
  }
  if (f.users.cols() != f.movies.cols()) {
    throw Error(ExitCode::kInternal, "mse: user and movie factors differ in width");
  }
  if (data.size() == 0) return std::numeric_limits<double>::quiet_NaN();
  const auto users = f.users.rows();
  const auto movies = f.movies.rows();
  // Serial on purpose: a validation set is small next to training, and a
  // fixed summation order keeps the figure identical across thread counts.
  double sum = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto u = data.user[i];
    const auto m = data.movie[i];
    if (u < 0 || u >= users || m < 0 || m >= movies) {
      throw Error(ExitCode::kInternal, "mse: rating " + std::to_string(i) + " out of range");
    }
    const double err = static_cast<double>(f.users.row(u).dot(f.movies.row(m))) -
                       static_cast<double>(data.value[i]);
    sum += err * err;
  }
  return sum / static_cast<double>(data.size());
}

}  // namespace recs
