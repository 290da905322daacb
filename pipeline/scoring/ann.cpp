#include "scoring/ann.h"

#include <tbb/info.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster/kmeans.h"
#include "scoring/result_handler.h"
#include "scoring/select.h"
#include "util/random.h"

namespace recs {
namespace {

using selection::key_item;
using selection::rank_key;

// Users gathered into one product with a cluster's movies, and movies per
// product: bounds the tile whatever the cluster sizes.
constexpr int kGatherUsers = 256;
constexpr int kMovieChunk = 1024;
// Candidates held per user, in multiples of top_n: a prune back to top_n
// costs O(capacity) and happens every capacity - top_n admissions.
constexpr int kCapacityRatio = 3;

// A user's movies arrive cluster by cluster, in no movie order, so ties at
// the threshold are settled by movie index.
using Handler = selection::ResultHandler<selection::TiesByItem>;

// Movies reordered cluster by cluster, with what ranks clusters for a user.
//
// Inner products are not a metric, so k-means runs on the movies lifted onto
// a sphere: v -> (v, sqrt(R^2 - |v|^2)) with R the largest movie norm. For a
// user u -> (u, 0), the lifted distance |(u, 0) - (v, w)|^2 = |u|^2 + R^2 -
// 2 u.v, so nearest lifted movie = best scoring movie. A cluster is ranked by
// the lifted distance to its centroid c = (c_v, c_w) of the user scaled onto
// the same sphere (R u / |u|): up to terms constant per user, that is
// u.c_v - |u| |c|^2 / (2R). Measured on ALS vectors this reached a given
// recall scanning fewer movies than k-means on the raw vectors ranked by u.c
// or on the movie directions.
}  // namespace

struct AnnIndexData {
  int clusters = 0;
  std::vector<std::int32_t> begin;        // clusters + 1 offsets into the cluster order
  std::vector<std::int32_t> movie_at;     // position in cluster order -> movie
  std::vector<std::int32_t> position_of;  // movie -> position in cluster order
  std::vector<std::int32_t> cluster_of;   // movie -> cluster
  RowMatrix movies;                       // rows in cluster order
  RowMatrix centroids;                    // clusters x factors: c_v
  Eigen::VectorXf norm_weight;            // per cluster: |c|^2 / (2R)
};

namespace {

using Index = AnnIndexData;

// The sphere the movies are lifted onto: (v, sqrt(R^2 - |v|^2)).
RowMatrix lift(const RowMatrix& movies, float& radius) {
  const int n = static_cast<int>(movies.rows());
  const int d = static_cast<int>(movies.cols());
  const Eigen::VectorXf norms2 = movies.rowwise().squaredNorm();
  const float radius2 = n > 0 ? norms2.maxCoeff() : 0.0f;
  radius = std::sqrt(radius2);
  RowMatrix lifted(n, d + 1);
  lifted.leftCols(d) = movies;
  for (int i = 0; i < n; ++i) lifted(i, d) = std::sqrt(std::max(0.0f, radius2 - norms2[i]));
  return lifted;
}

// The coarse assignment: movie -> cluster.
std::vector<std::int32_t> assign_movies(const RowMatrix& movies, int clusters,
                                        const AnnOptions& ann, int threads) {
  const int n = static_cast<int>(movies.rows());
  const int d = static_cast<int>(movies.cols());
  float radius = 0;
  const RowMatrix lifted = lift(movies, radius);

  // k-means (the shared, deterministic one) on a seeded sample of the lifted
  // movies, started from k sampled movies: k-means++ seeding picks the
  // sphere's outliers first and leaves a few huge clusters, which cost more
  // to scan than they save. Then every movie goes to its nearest centroid.
  random::Rng rng(ann.seed, random::Stream::kAnnSample);
  const long long wanted = ann.train_sample > 0 ? ann.train_sample : 64LL * clusters;
  const int sample = static_cast<int>(std::clamp<long long>(wanted, clusters, n));
  std::vector<std::int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // A partial Fisher-Yates shuffle: the first `sample` slots become a
  // uniform sample.
  for (int i = 0; i < sample; ++i) {
    const int j = i + static_cast<int>(random::below(rng, static_cast<std::uint64_t>(n - i)));
    std::swap(order[i], order[j]);
  }
  KMeansOptions km;
  km.k = clusters;
  km.max_iterations = ann.kmeans_iterations;
  km.seed = ann.seed;
  km.threads = threads;
  km.initial_centroids.resize(clusters, d + 1);
  for (int j = 0; j < clusters; ++j) km.initial_centroids.row(j) = lifted.row(order[j]);
  if (sample < n) {
    std::sort(order.begin(), order.begin() + sample);  // a fixed summation order
    RowMatrix train(sample, d + 1);
    for (int i = 0; i < sample; ++i) train.row(i) = lifted.row(order[i]);
    km.initial_centroids = kmeans(train, km).centroids;
    km.max_iterations = 0;  // assignment only
  }
  return kmeans(lifted, km).assignment;
}

Index index_from_assignment(const RowMatrix& movies, std::vector<std::int32_t> cluster_of,
                            int clusters) {
  const int n = static_cast<int>(movies.rows());
  const int d = static_cast<int>(movies.cols());
  if (static_cast<int>(cluster_of.size()) != n) {
    throw std::invalid_argument("ann index: the assignment has " +
                                std::to_string(cluster_of.size()) + " entries for " +
                                std::to_string(n) + " movies");
  }
  for (std::int32_t c : cluster_of) {
    if (c < 0 || c >= clusters) {
      throw std::invalid_argument("ann index: cluster " + std::to_string(c) + " outside 0.." +
                                  std::to_string(clusters - 1));
    }
  }
  float radius = 0;
  const RowMatrix lifted = lift(movies, radius);
  Index index;
  index.clusters = clusters;
  index.cluster_of = std::move(cluster_of);

  // Counting sort by cluster; movie order within a cluster.
  index.begin.assign(clusters + 1, 0);
  for (int i = 0; i < n; ++i) ++index.begin[index.cluster_of[i] + 1];
  std::partial_sum(index.begin.begin(), index.begin.end(), index.begin.begin());
  std::vector<std::int32_t> fill(index.begin.begin(), index.begin.end() - 1);
  index.movie_at.resize(n);
  index.position_of.resize(n);
  index.movies.resize(n, d);
  for (int i = 0; i < n; ++i) {
    const int pos = fill[index.cluster_of[i]]++;
    index.movie_at[pos] = i;
    index.position_of[i] = pos;
    index.movies.row(pos) = movies.row(i);
  }

  // Centroids of the final clusters (the k-means ones are of the sample).
  RowMatrix means = RowMatrix::Zero(clusters, d + 1);
  for (int pos = 0; pos < n; ++pos) {
    means.row(index.cluster_of[index.movie_at[pos]]) += lifted.row(index.movie_at[pos]);
  }
  index.centroids.resize(clusters, d);
  index.norm_weight.resize(clusters);
  for (int c = 0; c < clusters; ++c) {
    const int size = index.begin[c + 1] - index.begin[c];
    if (size > 0) means.row(c) /= static_cast<float>(size);
    index.centroids.row(c) = means.row(c).leftCols(d);
    index.norm_weight[c] = radius > 0.0f ? means.row(c).squaredNorm() / (2.0f * radius) : 0.0f;
  }
  return index;
}

struct Problem {
  const RowMatrix& users;
  const UserItems* exclude;
  const Index& index;
  int nprobe;
  int user_block;
  selection::BufferShape shape;
};

// Per-thread working memory, reused across user blocks.
struct Scratch {
  RowMatrix probe_scores;                   // block users x clusters
  std::vector<std::uint64_t> probe_keys;    // clusters
  std::vector<std::uint8_t> probed;         // clusters, of the current user
  std::vector<std::int32_t> probe_start;    // block users + 1 offsets into probes
  std::vector<std::int32_t> probes;         // per user: probed clusters, best first
  std::vector<std::int32_t> rated_in;       // clusters: the current user's rated movies
  std::vector<std::int32_t> cluster_start;  // groups + 1 offsets into cluster_users
  std::vector<std::int32_t> cluster_users;  // block users of each group, ascending
  std::vector<std::int32_t> cluster_fill;   // groups: write cursors into cluster_users
  std::vector<std::int64_t> mask_start;     // block users + 1 offsets into mask
  std::vector<std::int32_t> mask;           // per user: rated positions in probed clusters, sorted
  RowMatrix gathered;                       // kGatherUsers x factors
  std::vector<float> tile;                  // kGatherUsers x kMovieChunk
  Handler results;
};

// Picks each user's clusters, groups the block's users by cluster and
// collects the rated movies that fall into probed clusters.
//
// A user probes its nprobe best clusters, and then further clusters in rank
// order until they hold at least min(top_n, unrated movies) unrated movies,
// so a heavy rater still gets a full list without scanning every cluster.
void plan_block(const Problem& p, int user_begin, int nu, Scratch& s) {
  const Index& index = p.index;
  const int clusters = index.clusters;
  const int num_movies = static_cast<int>(index.movies.rows());
  const int nprobe = std::min(p.nprobe, clusters);

  s.probe_scores.resize(nu, clusters);
  s.probe_scores.noalias() = p.users.middleRows(user_begin, nu) * index.centroids.transpose();
  s.probe_keys.resize(clusters);
  s.probed.assign(clusters, 0);
  s.rated_in.assign(clusters, 0);
  s.probe_start.assign(nu + 1, 0);
  s.probes.clear();
  s.mask_start.assign(nu + 1, 0);
  s.mask.clear();

  for (int i = 0; i < nu; ++i) {
    const int user = user_begin + i;
    const std::int32_t* rated_first = nullptr;
    const std::int32_t* rated_last = nullptr;
    if (p.exclude) {
      rated_first = p.exclude->indices.data() + p.exclude->indptr[user];
      rated_last = p.exclude->indices.data() + p.exclude->indptr[user + 1];
    }
    long long rated = 0;
    for (const std::int32_t* m = rated_first; m != rated_last; ++m) {
      if (*m < 0 || *m >= num_movies) continue;
      ++rated;
      ++s.rated_in[index.cluster_of[*m]];
    }
    const long long needed = std::min<long long>(p.shape.top_n, num_movies - rated);

    const float norm = p.users.row(user).norm();
    const float* row = s.probe_scores.data() + static_cast<std::size_t>(i) * clusters;
    for (int c = 0; c < clusters; ++c) {
      s.probe_keys[c] = rank_key(row[c] - norm * index.norm_weight[c], c);
    }
    std::nth_element(s.probe_keys.begin(), s.probe_keys.begin() + (nprobe - 1), s.probe_keys.end(),
                     std::greater<>());
    std::sort(s.probe_keys.begin(), s.probe_keys.begin() + nprobe, std::greater<>());
    long long candidates = 0;
    int q = 0;
    auto probe = [&](int k) {
      const int c = key_item(s.probe_keys[k]);
      s.probes.push_back(c);
      s.probed[c] = 1;
      candidates += index.begin[c + 1] - index.begin[c] - s.rated_in[c];
    };
    for (; q < nprobe; ++q) probe(q);
    if (candidates < needed && q < clusters) {
      // Rank the rest only for the few users who need them.
      std::sort(s.probe_keys.begin() + q, s.probe_keys.end(), std::greater<>());
      for (; candidates < needed && q < clusters; ++q) probe(q);
    }
    s.probe_start[i + 1] = static_cast<std::int32_t>(s.probes.size());

    const std::size_t mask_first = s.mask.size();
    for (const std::int32_t* m = rated_first; m != rated_last; ++m) {
      if (*m < 0 || *m >= num_movies) continue;
      const int c = index.cluster_of[*m];
      s.rated_in[c] = 0;
      if (s.probed[c]) s.mask.push_back(index.position_of[*m]);
    }
    std::sort(s.mask.begin() + static_cast<std::ptrdiff_t>(mask_first), s.mask.end());
    s.mask_start[i + 1] = static_cast<std::int64_t>(s.mask.size());
    for (int k = s.probe_start[i]; k < s.probe_start[i + 1]; ++k) s.probed[s.probes[k]] = 0;
  }

  // Users of each group, ascending: a counting sort over (group, user).
  // Group c < clusters holds the users whose best cluster is c, group
  // clusters + c those that probe c further down their list. The first
  // groups are scanned first: each user's threshold then starts at its best
  // cluster's top_n-th score, which keeps most later candidates from being
  // admitted at all.
  const int groups = 2 * clusters;
  auto group_of = [&](int k, int i) {
    return k == s.probe_start[i] ? s.probes[k] : clusters + s.probes[k];
  };
  s.cluster_start.assign(groups + 1, 0);
  for (int i = 0; i < nu; ++i) {
    for (int k = s.probe_start[i]; k < s.probe_start[i + 1]; ++k) {
      ++s.cluster_start[group_of(k, i) + 1];
    }
  }
  for (int g = 0; g < groups; ++g) s.cluster_start[g + 1] += s.cluster_start[g];
  s.cluster_users.resize(s.cluster_start[groups]);
  s.cluster_fill.assign(s.cluster_start.begin(), s.cluster_start.end() - 1);
  for (int i = 0; i < nu; ++i) {
    for (int k = s.probe_start[i]; k < s.probe_start[i + 1]; ++k) {
      s.cluster_users[s.cluster_fill[group_of(k, i)]++] = i;
    }
  }
}

// Top-N of users [user_begin, user_end) over their probed clusters.
void score_block(const Problem& p, int user_begin, int user_end, Scratch& s, std::int32_t* items,
                 float* scores, std::int32_t* counts) {
  const int nu = user_end - user_begin;
  const Index& index = p.index;
  const int d = static_cast<int>(index.movies.cols());
  plan_block(p, user_begin, nu, s);

  s.results.begin_block(p.shape, nu);
  s.gathered.resize(kGatherUsers, d);
  s.tile.resize(static_cast<std::size_t>(kGatherUsers) * kMovieChunk);
  constexpr float kMasked = std::numeric_limits<float>::quiet_NaN();

  for (int g = 0; g < 2 * index.clusters; ++g) {
    const int c = g < index.clusters ? g : g - index.clusters;
    const int user_first = s.cluster_start[g];
    const int user_last = s.cluster_start[g + 1];
    for (int ub = user_first; ub < user_last; ub += kGatherUsers) {
      const int n_users = std::min(kGatherUsers, user_last - ub);
      for (int r = 0; r < n_users; ++r) {
        s.gathered.row(r) = p.users.row(user_begin + s.cluster_users[ub + r]);
      }
      for (int mb = index.begin[c]; mb < index.begin[c + 1]; mb += kMovieChunk) {
        const int nm = std::min(kMovieChunk, index.begin[c + 1] - mb);
        Eigen::Map<RowMatrix> tile(s.tile.data(), n_users, nm);
        tile.noalias() = s.gathered.topRows(n_users) * index.movies.middleRows(mb, nm).transpose();
        for (int r = 0; r < n_users; ++r) {
          const int i = s.cluster_users[ub + r];
          float* row = tile.data() + static_cast<std::size_t>(r) * nm;
          // The user's masked positions (sorted) within [mb, mb + nm).
          const auto mask_end = s.mask.begin() + s.mask_start[i + 1];
          for (auto m = std::lower_bound(s.mask.begin() + s.mask_start[i], mask_end, mb);
               m != mask_end && *m < mb + nm; ++m) {
            row[*m - mb] = kMasked;
          }
          const std::int32_t* movie_at = index.movie_at.data() + mb;
          s.results.add_row(i, row, nm, [movie_at](int k) { return movie_at[k]; });
        }
      }
    }
  }

  s.results.end_block(items, scores, counts);
}

void check_inputs(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                  const TopNOptions& options, const AnnOptions& ann) {
  selection::check_inputs("score_top_n_ann", users, movies, exclude, options);
  if (ann.nprobe <= 0 || ann.clusters < 0 || ann.kmeans_iterations < 0 || ann.train_sample < 0 ||
      ann.user_block <= 0) {
    throw std::invalid_argument(
        "score_top_n_ann: nprobe and user_block must be > 0, clusters, kmeans_iterations and "
        "train_sample >= 0");
  }
}

}  // namespace

int ann_cluster_count(int num_movies, const AnnOptions& ann) {
  if (num_movies <= 0) return 0;
  const int automatic = static_cast<int>(std::lround(std::sqrt(static_cast<double>(num_movies))));
  return std::clamp(ann.clusters > 0 ? ann.clusters : automatic, 1, num_movies);
}

AnnIndex AnnIndex::build(const RowMatrix& movies, const AnnOptions& ann, int threads) {
  const int clusters = ann_cluster_count(static_cast<int>(movies.rows()), ann);
  if (threads <= 0) threads = tbb::info::default_concurrency();
  std::vector<std::int32_t> cluster_of;
  if (clusters > 0) cluster_of = assign_movies(movies, clusters, ann, threads);
  return from_assignment(movies, std::move(cluster_of), clusters);
}

AnnIndex AnnIndex::from_assignment(const RowMatrix& movies, std::vector<std::int32_t> cluster_of,
                                   int clusters) {
  AnnIndex out;
  out.data_ = std::make_shared<const AnnIndexData>(
      index_from_assignment(movies, std::move(cluster_of), clusters));
  return out;
}

int AnnIndex::clusters() const { return data_ ? data_->clusters : 0; }

const std::vector<std::int32_t>& AnnIndex::assignment() const {
  static const std::vector<std::int32_t> none;
  return data_ ? data_->cluster_of : none;
}

void score_top_n_ann(const RowMatrix& users, const AnnIndex& index, const UserItems* exclude,
                     const TopNOptions& options, int nprobe, int user_block,
                     const std::function<void(const TopNBlock&)>& sink) {
  const AnnIndexData* data = index.clusters() > 0 ? &index.data() : nullptr;
  const int num_movies = data ? static_cast<int>(data->movies.rows()) : 0;
  if (num_movies == 0 || options.top_n == 0) {
    // Nothing to index; the exact kernel hands everyone an empty list.
    const RowMatrix none(0, users.cols());
    score_top_n(users, data ? data->movies : none, exclude, options, sink);
    return;
  }
  AnnOptions ann;
  ann.nprobe = nprobe;
  ann.user_block = user_block;
  check_inputs(users, data->movies, exclude, options, ann);
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  // The dense loop only until a user holds top_n: its best cluster comes
  // first, so from then on its threshold is high and most chunks are skipped.
  const Problem problem{
      users,  exclude,    *data,
      nprobe, user_block, selection::buffer_shape(options.top_n, kCapacityRatio, num_movies, 0)};
  selection::score_in_blocks(problem, static_cast<int>(users.rows()), user_block, options.top_n,
                             threads, score_block, options.prepare, sink);
}

void score_top_n_ann(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                     const TopNOptions& options, const AnnOptions& ann,
                     const std::function<void(const TopNBlock&)>& sink) {
  check_inputs(users, movies, exclude, options, ann);
  if (movies.rows() == 0 || options.top_n == 0) {
    score_top_n(users, movies, exclude, options, sink);
    return;
  }
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  score_top_n_ann(users, AnnIndex::build(movies, ann, threads), exclude, options, ann.nprobe,
                  ann.user_block, sink);
}

namespace {

// Every user's list, items sorted, as one flat table.
struct Lists {
  std::vector<std::int64_t> start;
  std::vector<std::int32_t> items;
};

Lists collect(const std::function<void(const std::function<void(const TopNBlock&)>&)>& run,
              int users) {
  Lists out;
  out.start.assign(static_cast<std::size_t>(users) + 1, 0);
  std::vector<std::vector<std::int32_t>> per(static_cast<std::size_t>(users));
  run([&](const TopNBlock& b) {
    for (int i = 0; i < b.user_end - b.user_begin; ++i) {
      auto& list = per[static_cast<std::size_t>(b.user_begin + i)];
      const std::size_t base = static_cast<std::size_t>(i) * static_cast<std::size_t>(b.top_n);
      list.assign(b.items.begin() + static_cast<std::ptrdiff_t>(base),
                  b.items.begin() + static_cast<std::ptrdiff_t>(base) + b.counts[i]);
      std::sort(list.begin(), list.end());
    }
  });
  for (int u = 0; u < users; ++u) {
    const auto& list = per[static_cast<std::size_t>(u)];
    out.items.insert(out.items.end(), list.begin(), list.end());
    out.start[static_cast<std::size_t>(u) + 1] = static_cast<std::int64_t>(out.items.size());
  }
  return out;
}

}  // namespace

AnnCalibration calibrate_nprobe(const AnnIndex& index, const RowMatrix& movies,
                                const RowMatrix& sample, const UserItems* exclude,
                                const TopNOptions& options, double target, std::int64_t population,
                                int user_block) {
  const int users = static_cast<int>(sample.rows());
  const int clusters = index.clusters();
  AnnCalibration best;
  best.nprobe = std::max(1, clusters);
  best.recall = 1;
  best.recall_low = 1;
  if (users == 0 || clusters == 0 || options.top_n == 0) return best;
  TopNOptions plain = options;
  plain.prepare = nullptr;
  const Lists exact =
      collect([&](const auto& sink) { score_top_n(sample, movies, exclude, plain, sink); }, users);

  auto measure = [&](int nprobe) {
    const Lists found = collect(
        [&](const auto& sink) {
          score_top_n_ann(sample, index, exclude, plain, nprobe, user_block, sink);
        },
        users);
    AnnCalibration c;
    c.nprobe = nprobe;
    double hits = 0, wanted = 0, sum = 0, sum2 = 0;
    for (int u = 0; u < users; ++u) {
      const auto e0 = exact.items.begin() + exact.start[u];
      const auto e1 = exact.items.begin() + exact.start[u + 1];
      if (e0 == e1) continue;
      auto f = found.items.begin() + found.start[u];
      const auto f1 = found.items.begin() + found.start[u + 1];
      std::int64_t common = 0;
      for (auto e = e0; e != e1 && f != f1;) {
        if (*e < *f) {
          ++e;
        } else if (*f < *e) {
          ++f;
        } else {
          ++common, ++e, ++f;
        }
      }
      const double r = static_cast<double>(common) / static_cast<double>(e1 - e0);
      hits += static_cast<double>(common);
      wanted += static_cast<double>(e1 - e0);
      sum += r;
      sum2 += r * r;
      ++c.users;
    }
    if (c.users == 0) {
      c.recall = c.recall_low = 1;
      return c;
    }
    const double n = static_cast<double>(c.users);
    c.recall = hits / wanted;
    const double mean = sum / n;
    const double variance = n > 1 ? std::max(0.0, (sum2 - n * mean * mean) / (n - 1)) : 0.0;
    const double fpc = population > c.users
                           ? 1.0 - n / static_cast<double>(std::max<std::int64_t>(population, 1))
                           : 0.0;
    c.recall_low = c.recall - 2.0 * std::sqrt(variance / n * std::max(0.0, fpc));
    return c;
  };

  // Bisection: lo fails (or is 0), hi passes.
  int lo = 0;
  int hi = clusters;
  best = measure(hi);
  while (hi - lo > 1) {
    const int mid = lo + (hi - lo) / 2;
    const AnnCalibration c = measure(mid);
    if (c.recall_low >= target) {
      hi = mid;
      best = c;
    } else {
      lo = mid;
    }
  }
  return best;
}

}  // namespace recs
