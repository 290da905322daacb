#include "scoring/topn.h"

#include <tbb/info.h>

#include <algorithm>
#include <bit>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

#include "scoring/select.h"

namespace recs {
namespace {

// Tile entries are tested against a user's threshold kChunk at a time (a few
// vector compares and one branch); a chunk with a hit is resolved into a bit
// mask, so only the admitted entries are visited one by one.
constexpr int kChunk = 64;
// Sub-chunk of the branch-free (dense) admission loop.
constexpr int kDense = 64;
// Per user, movies [0, kDenseRatio * top_n) go through the dense loop: early
// in a row most scores beat the (still low) threshold and a test per chunk
// would not skip anything.
constexpr long long kDenseRatio = 32;
// Candidate buffer capacity per user, in multiples of top_n (at least top_n +
// 2 * kDense). Smaller keeps the threshold closer to the exact top_n-th score
// (fewer admissions), larger prunes less often; 2 measured best of 2-4.
constexpr long long kCapacityRatio = 2;

// Whether any of p[0, kChunk) exceeds t. The integer OR reduction (not a bool
// one) is what GCC and Clang turn into vector compares without -ffast-math.
inline bool any_above(const float* p, float t) {
  int hit = 0;
  for (int k = 0; k < kChunk; ++k) hit |= p[k] > t;
  return hit != 0;
}

// Bit k set iff p[k] > t, for k < kChunk. Built from 32-lane halves: with a
// 32-bit accumulator GCC vectorises the loop (a 64-bit one it does not).
inline std::uint64_t above_mask(const float* p, float t) {
  auto half = [t](const float* q) {
    std::uint32_t mask = 0;
    // Unrolled before vectorisation, GCC 12 falls back to scalar compares
    // once this is inlined into the admission loop; kept rolled it vectorises.
#pragma GCC unroll 1
    for (int k = 0; k < 32; ++k) mask |= static_cast<std::uint32_t>(q[k] > t) << k;
    return mask;
  };
  return half(p) | (std::uint64_t{half(p + 32)} << 32);
}

// Selection state of one user across the movie blocks.
struct UserState {
  int count = 0;  // candidates held
  // The top_n-th best score so far; meaningful once has_n (top_n held).
  float threshold = -std::numeric_limits<float>::infinity();
  bool has_n = false;
};

struct Problem {
  const RowMatrix& users;
  const RowMatrix& movies;
  const UserItems* exclude;
  int top_n;
  int user_block;
  int movie_block;
  // Candidate buffer size per user: pruning back to top_n happens once per
  // (capacity - top_n) admissions. At least top_n + 2 * kDense, so that a
  // dense sub-chunk fits after a prune, unless it is the movie count, in
  // which case pruning is never needed.
  int capacity;
  // Movies [0, dense_until) are admitted with the branch-free loop.
  int dense_until;
};

// Per-thread working memory, reused across user blocks so the steady state
// allocates nothing. Candidate buffers are structure-of-arrays so that the
// score-only passes of prune() vectorise.
struct Scratch {
  std::vector<float> tile;               // user_block x movie_block, row-major
  std::vector<float> cand_scores;        // user_block x capacity
  std::vector<std::int32_t> cand_items;  // user_block x capacity
  std::vector<UserState> users;          // per user of the block
  std::vector<std::int64_t> mask_next;   // per user: next rated movie to mask
  std::vector<float> select_tmp;         // 2 x capacity, for prune()
  std::vector<std::uint64_t> keys;       // top_n, for finish_user()
};

// A user's candidate buffer. Entries are kept in ascending movie order:
// appends come in that order and prune() compacts stably, which is what lets
// prune() settle ties at the cut by position.
using Buffer = selection::Candidates;

// Keeps exactly the top_n best of buf[0, count) (count > top_n, no NaN) and
// returns the worst kept score, the new admission threshold.
float prune(Buffer buf, int count, int top_n, float* tmp) {
  std::copy(buf.scores, buf.scores + count, tmp);
  const float cut = selection::kth_largest(tmp, tmp + count, count, top_n);
  int at_least = 0;
  for (int i = 0; i < count; ++i) at_least += buf.scores[i] >= cut;
  if (at_least == top_n) {
    // The usual case: no surplus ties at the cut.
    selection::keep_at_least(buf, count, cut);
  } else {
    // Several scores equal the cut: keep the earliest (smallest movie index)
    // of them, as many as fill top_n.
    int above = 0;
    for (int i = 0; i < count; ++i) above += buf.scores[i] > cut;
    int ties_left = top_n - above;
    int kept = 0;
    for (int i = 0; i < count; ++i) {
      const float v = buf.scores[i];
      const bool tie = v == cut;
      const bool keep = v > cut || (tie && ties_left > 0);
      ties_left -= tie;
      buf.scores[kept] = v;
      buf.items[kept] = buf.items[i];
      kept += keep;
    }
  }
  return cut;
}

// Feeds one tile row (movies first_movie .. first_movie + n - 1, ascending)
// into one user's candidate buffer.
//
// Exactness of the pruning: once a user holds top_n candidates, the threshold
// t is the score of the top_n-th best. Movies arrive in ascending index order,
// so a later movie scoring exactly t loses the tie to every held candidate
// scoring t; only s > t can enter the top_n, and `>` is what is tested. NaN
// (including the masked entries) fails every comparison, so it never enters.
void admit_row(const float* row, int n, std::int32_t first_movie, const Problem& p, Buffer buf,
               UserState& state, float* tmp) {
  // Locals, not the references: stores into buf could otherwise alias them
  // and force a reload per admitted entry.
  const int top_n = p.top_n;
  const int capacity = p.capacity;
  int count = state.count;
  float t = state.threshold;
  bool has_n = state.has_n;
  int j = 0;

  // Dense regime: every score is written to the buffer and the count advanced
  // by the test, branch-free.
  const int dense_end = std::clamp(p.dense_until - first_movie, 0, n);
  while (j < dense_end || (!has_n && j < n)) {
    const int len = std::min(kDense, n - j);
    // Room for a whole sub-chunk, so the loop below needs no bounds test.
    // capacity >= top_n + 2 * kDense unless capacity is the movie count, in
    // which case the buffer can never overflow and this never triggers.
    if (count + len > capacity) {
      t = prune(buf, count, top_n, tmp);
      count = top_n;
      has_n = true;
    }
    const float* r = row + j;
    const std::int32_t movie = first_movie + j;
    if (has_n) {
      for (int k = 0; k < len; ++k) {
        buf.scores[count] = r[k];
        buf.items[count] = movie + k;
        count += r[k] > t;
      }
    } else {
      // Before top_n are held every non-NaN score is admitted, even -inf.
      for (int k = 0; k < len; ++k) {
        buf.scores[count] = r[k];
        buf.items[count] = movie + k;
        count += r[k] == r[k];
      }
    }
    j += len;
  }

  // Sparse regime: admissions are rare, whole chunks are skipped by one test.
  if (j < n) {
    auto admit = [&](int k) {
      const float s = row[k];
      if (s > t) {
        buf.scores[count] = s;
        buf.items[count] = first_movie + k;
        if (++count == capacity) {
          t = prune(buf, count, top_n, tmp);
          count = top_n;
        }
      }
    };
    for (; j + kChunk <= n; j += kChunk) {
      if (!any_above(row + j, t)) continue;
      for (std::uint64_t mask = above_mask(row + j, t); mask != 0; mask &= mask - 1) {
        // admit() compares again: a prune inside this loop may raise t.
        admit(j + std::countr_zero(mask));
      }
    }
    for (; j < n; ++j) admit(j);
  }
  state.count = count;
  state.threshold = t;
  state.has_n = has_n;
}

// Writes the best min(top_n, count) of buf[0, count), best first; returns how
// many.
int finish_user(Buffer buf, int count, int top_n, float* tmp, std::uint64_t* keys,
                std::int32_t* items, float* scores) {
  if (count > top_n) {
    prune(buf, count, top_n, tmp);
    count = top_n;
  }
  selection::write_ranked(buf, count, keys, items, scores);
  return count;
}

// Scores users [user_begin, user_end) against every movie and writes their
// top-N, best first, to items/scores (top_n per user) and counts.
void score_block(const Problem& p, int user_begin, int user_end, Scratch& s, std::int32_t* items,
                 float* scores, std::int32_t* counts) {
  const int nu = user_end - user_begin;
  const int num_movies = static_cast<int>(p.movies.rows());
  const int top_n = p.top_n;
  if (top_n == 0 || num_movies == 0) {
    std::fill(counts, counts + nu, 0);
    return;
  }
  const std::size_t capacity = p.capacity;
  const std::size_t tile_size = static_cast<std::size_t>(nu) * std::min(p.movie_block, num_movies);
  if (s.tile.size() < tile_size) s.tile.resize(tile_size);
  if (s.cand_scores.size() < nu * capacity) {
    s.cand_scores.resize(nu * capacity);
    s.cand_items.resize(nu * capacity);
  }
  if (s.select_tmp.size() < 2 * capacity) s.select_tmp.resize(2 * capacity);
  if (s.keys.size() < capacity) s.keys.resize(capacity);
  s.users.assign(nu, UserState{});
  if (p.exclude) {
    s.mask_next.assign(p.exclude->indptr.begin() + user_begin,
                       p.exclude->indptr.begin() + user_end);
  }
  auto buffer = [&](int i) {
    return Buffer{s.cand_scores.data() + i * capacity, s.cand_items.data() + i * capacity};
  };
  // Masked entries become NaN, which no comparison admits: a masked movie is
  // never selected even if every real score is -inf.
  constexpr float kMasked = std::numeric_limits<float>::quiet_NaN();

  const auto user_rows = p.users.middleRows(user_begin, nu);
  for (int movie_begin = 0; movie_begin < num_movies; movie_begin += p.movie_block) {
    const int nm = std::min(p.movie_block, num_movies - movie_begin);
    Eigen::Map<RowMatrix> tile(s.tile.data(), nu, nm);
    tile.noalias() = user_rows * p.movies.middleRows(movie_begin, nm).transpose();
    for (int i = 0; i < nu; ++i) {
      float* row = tile.data() + static_cast<std::size_t>(i) * nm;
      if (p.exclude) {
        // Rated movies are sorted, so one cursor per user walks them once
        // across all movie blocks.
        const std::int64_t end = p.exclude->indptr[user_begin + i + 1];
        std::int64_t& next = s.mask_next[i];
        const std::int32_t* rated = p.exclude->indices.data();
        for (; next < end && rated[next] < movie_begin + nm; ++next) {
          if (rated[next] >= movie_begin) row[rated[next] - movie_begin] = kMasked;
        }
      }
      admit_row(row, nm, movie_begin, p, buffer(i), s.users[i], s.select_tmp.data());
    }
  }

  for (int i = 0; i < nu; ++i) {
    const std::size_t out = static_cast<std::size_t>(i) * top_n;
    counts[i] = finish_user(buffer(i), s.users[i].count, top_n, s.select_tmp.data(), s.keys.data(),
                            items + out, scores + out);
  }
}

Problem make_problem(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                     const TopNOptions& options) {
  selection::check_inputs("score_top_n", users, movies, exclude, options);
  if (options.user_block <= 0 || options.movie_block <= 0) {
    throw std::invalid_argument("score_top_n: user_block and movie_block must be > 0");
  }
  const long long num_movies = movies.rows();
  const long long top_n = options.top_n;
  const long long capacity =
      std::min(std::max(kCapacityRatio * top_n, top_n + 2LL * kDense), num_movies);
  return Problem{users,
                 movies,
                 exclude,
                 options.top_n,
                 options.user_block,
                 options.movie_block,
                 static_cast<int>(std::max(capacity, 1LL)),
                 static_cast<int>(std::min(kDenseRatio * top_n, num_movies))};
}

}  // namespace

void score_top_n(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                 const TopNOptions& options, const std::function<void(const TopNBlock&)>& sink) {
  const Problem problem = make_problem(users, movies, exclude, options);
  const int num_users = static_cast<int>(users.rows());
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  selection::score_in_blocks(problem, num_users, problem.user_block, problem.top_n, threads,
                             score_block, sink);
}

TopNBlock score_top_n(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                      const TopNOptions& options) {
  TopNBlock all;
  all.user_begin = 0;
  all.user_end = static_cast<int>(users.rows());
  all.top_n = options.top_n;
  const std::size_t num_users = static_cast<std::size_t>(users.rows());
  const std::size_t top_n = static_cast<std::size_t>(std::max(options.top_n, 0));
  all.items.resize(num_users * top_n);
  all.scores.resize(num_users * top_n);
  all.counts.resize(num_users);
  score_top_n(users, movies, exclude, options, [&](const TopNBlock& block) {
    const std::size_t offset = static_cast<std::size_t>(block.user_begin) * top_n;
    std::copy(block.items.begin(), block.items.end(), all.items.begin() + offset);
    std::copy(block.scores.begin(), block.scores.end(), all.scores.begin() + offset);
    std::copy(block.counts.begin(), block.counts.end(), all.counts.begin() + block.user_begin);
  });
  return all;
}

}  // namespace recs
