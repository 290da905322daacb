// The result handler of both top-N kernels (exact and ann): per user of a
// block, a bounded buffer of the candidates that may still enter its top-N,
// the N-th best score so far as the admission threshold (held in a register
// while a row is fed), compaction back to N when the buffer fills, and the
// final ranking. As faiss's ResultHandler serves its flat and IVF searches,
// one handler serves both kernels; they differ only in the order in which a
// user's items arrive, and so in how scores equal to the threshold are
// settled: that is the tie policy (TiesByArrival, TiesByItem).
//
// With either policy (given what it assumes of the arrival order) the result
// is exact: each user ends with its best min(top_n, entries fed) entries by
// higher score, then smaller item, the order TopNBlock promises, however its
// entries were cut into rows.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

#include "scoring/select.h"

namespace recs::selection {

// Tie policy for items that reach each user in ascending order (the exact
// kernel's movie blocks). A later item scoring exactly the threshold loses the
// tie to every held candidate with that score, so only a higher score is
// admitted; candidates stay in arrival order, so compaction keeps the
// earliest of the scores equal to the cut.
struct TiesByArrival {
  static bool admits(float score, float threshold) { return score > threshold; }
  // Keeps exactly the top_n best of c[0, count) (count > top_n, no NaN) in
  // their order and returns the worst kept score. tmp: 2 x count floats;
  // ties is unused.
  static float prune(Candidates c, int count, int top_n, float* tmp,
                     std::vector<std::int32_t>& ties);
};

// Tie policy for items arriving in any order (the ann kernel's clusters): a
// later score equal to the threshold may still win on a smaller item, so it
// is admitted, and compaction settles the scores equal to the cut by item.
struct TiesByItem {
  static bool admits(float score, float threshold) { return score >= threshold; }
  // As TiesByArrival::prune, with ties as scratch for the tied items.
  static float prune(Candidates c, int count, int top_n, float* tmp,
                     std::vector<std::int32_t>& ties);
};

// Entries fed to the branch-free (dense) admission loop at a time.
inline constexpr int kDenseChunk = 64;
// Entries tested against a user's threshold at a time in the sparse regime
// (a few vector compares and one branch); a chunk with a hit is resolved into
// a bit mask, so only the admitted entries are visited one by one.
inline constexpr int kSparseChunk = 64;

// How much a handler holds per user; a kernel works it out once per run.
struct BufferShape {
  int top_n = 0;
  // Candidates held per user before compacting back to top_n.
  int capacity = 0;
  // Each user's first dense_items entries go through the branch-free loop:
  // early on most scores beat the (still low) threshold and testing a chunk
  // first would skip nothing. Until a user holds top_n, entries always do.
  int dense_items = 0;
};

// The shape for top_n per user: capacity_ratio x top_n candidates (at least
// top_n plus room for two dense chunks), capped at max_items, the most
// entries any user is fed (a buffer that size never needs compacting).
BufferShape buffer_shape(int top_n, int capacity_ratio, int max_items, long long dense_items);

// One thread's handler; kept across blocks so that the steady state
// allocates nothing. Candidate buffers are structure-of-arrays so that the
// score-only passes of the compaction vectorise.
template <typename Ties>
class ResultHandler {
 public:
  // Starts a block of `users` users, all with empty buffers. Each user may
  // then be fed at most the max_items the shape was made for, each item at
  // most once.
  void begin_block(const BufferShape& shape, int users);

  // Feeds user `user` (of the block) n scores: row[k] is the score of item
  // item_at(k). With TiesByArrival, items must ascend across all of the
  // user's calls. NaN (a masked entry) is never admitted; -inf is a score
  // like any other.
  template <typename ItemAt>
  void add_row(int user, const float* row, int n, ItemAt item_at);

  // Compacts user `user`'s candidates back to its best top_n when it holds
  // more than top_n + slack, so that threshold() is its exact top_n-th best
  // so far: a kernel that skips work by the threshold (the angular one)
  // calls it after each of a user's short rows. The result is unchanged.
  void tighten(int user, int slack);

  // Writes each user's best min(top_n, non-NaN entries fed), best first, to
  // items and scores at user x top_n, and their number to counts[user].
  void end_block(std::int32_t* items, float* scores, std::int32_t* counts);

  // A lower bound of user `user`'s final top_n-th best score, never falling
  // as entries are fed: an entry scoring below it cannot enter the top_n
  // (-inf until top_n are held).
  float threshold(int user) const {
    const UserState& s = users_[static_cast<std::size_t>(user)];
    return s.has_n ? s.threshold : -std::numeric_limits<float>::infinity();
  }

 private:
  struct UserState {
    int count = 0;  // candidates held
    int seen = 0;   // entries fed
    // The top_n-th best score so far; meaningful once has_n (top_n held).
    float threshold = -std::numeric_limits<float>::infinity();
    bool has_n = false;
  };

  // Whether any of p[0, kSparseChunk) would be admitted against t. The
  // integer OR reduction (not a bool one) is what GCC and Clang turn into
  // vector compares without -ffast-math.
  static bool any_admitted(const float* p, float t) {
    int hit = 0;
    for (int k = 0; k < kSparseChunk; ++k) hit |= Ties::admits(p[k], t);
    return hit != 0;
  }

  // Bit k set iff p[k] would be admitted, for k < kSparseChunk. Built from
  // 32-lane halves: with a 32-bit accumulator GCC vectorises the loop (a
  // 64-bit one it does not).
  static std::uint64_t admitted_mask(const float* p, float t) {
    auto half = [t](const float* q) {
      std::uint32_t mask = 0;
      // Unrolled before vectorisation, GCC 12 falls back to scalar compares
      // once this is inlined into the admission loop; kept rolled it
      // vectorises.
#pragma GCC unroll 1
      for (int k = 0; k < 32; ++k) mask |= static_cast<std::uint32_t>(Ties::admits(q[k], t)) << k;
      return mask;
    };
    return half(p) | (std::uint64_t{half(p + 32)} << 32);
  }

  Candidates buffer(int user) {
    const std::size_t at = static_cast<std::size_t>(user) * shape_.capacity;
    return Candidates{scores_.data() + at, items_.data() + at};
  }

  BufferShape shape_;
  std::vector<UserState> users_;
  std::vector<float> scores_;        // users x capacity
  std::vector<std::int32_t> items_;  // users x capacity
  std::vector<float> tmp_;           // 2 x capacity, for Ties::prune
  std::vector<std::int32_t> ties_;   // for Ties::prune
  std::vector<std::uint64_t> keys_;  // capacity, for write_ranked
};

template <typename Ties>
void ResultHandler<Ties>::begin_block(const BufferShape& shape, int users) {
  shape_ = shape;
  const std::size_t capacity = shape.capacity;
  const std::size_t size = static_cast<std::size_t>(users) * capacity;
  if (scores_.size() < size) {
    scores_.resize(size);
    items_.resize(size);
  }
  if (tmp_.size() < 2 * capacity) tmp_.resize(2 * capacity);
  if (keys_.size() < capacity) keys_.resize(capacity);
  users_.assign(users, UserState{});
}

// Exactness of the pruning: once a user holds top_n candidates, the
// threshold t is the top_n-th best score held, and it never falls, so an
// entry scoring below t can never be among the final top_n; Ties::admits
// says whether one scoring exactly t still can. NaN fails every comparison
// (and the == self test), so it never enters.
template <typename Ties>
template <typename ItemAt>
void ResultHandler<Ties>::add_row(int user, const float* row, int n, ItemAt item_at) {
  // Locals, not the members: stores into the buffer could otherwise alias
  // them and force a reload per admitted entry.
  const int top_n = shape_.top_n;
  const int capacity = shape_.capacity;
  if (top_n == 0) return;
  UserState& state = users_[user];
  const Candidates buf = buffer(user);
  float* const tmp = tmp_.data();
  int count = state.count;
  float t = state.threshold;
  bool has_n = state.has_n;
  int j = 0;

  // Dense regime: every score is written to the buffer and the count advanced
  // by the test, branch-free.
  const int dense_end = std::clamp(shape_.dense_items - state.seen, 0, n);
  while (j < dense_end || (!has_n && j < n)) {
    const int len = std::min(kDenseChunk, n - j);
    // Room for a whole sub-chunk, so the loop below needs no bounds test.
    // capacity >= top_n + 2 * kDenseChunk unless capacity is max_items, in which
    // case the buffer can never overflow and this never triggers.
    if (count + len > capacity) {
      t = Ties::prune(buf, count, top_n, tmp, ties_);
      count = top_n;
      has_n = true;
    }
    const float* r = row + j;
    if (has_n) {
      for (int k = 0; k < len; ++k) {
        buf.scores[count] = r[k];
        buf.items[count] = item_at(j + k);
        count += Ties::admits(r[k], t);
      }
    } else {
      // Before top_n are held every non-NaN score is admitted, even -inf.
      for (int k = 0; k < len; ++k) {
        buf.scores[count] = r[k];
        buf.items[count] = item_at(j + k);
        count += r[k] == r[k];
      }
    }
    j += len;
  }

  // Sparse regime: admissions are rare, whole chunks are skipped by one test.
  if (j < n) {
    // The dense chunks may have left the buffer exactly full (they only
    // compact when a chunk would overflow it); admit() writes before it
    // counts, so it needs a free slot.
    if (count == capacity && count > top_n) {
      t = Ties::prune(buf, count, top_n, tmp, ties_);
      count = top_n;
    }
    auto admit = [&](int k) {
      const float s = row[k];
      if (Ties::admits(s, t)) {
        buf.scores[count] = s;
        buf.items[count] = item_at(k);
        if (++count == capacity) {
          t = Ties::prune(buf, count, top_n, tmp, ties_);
          count = top_n;
        }
      }
    };
    for (; j + kSparseChunk <= n; j += kSparseChunk) {
      if (!any_admitted(row + j, t)) continue;
      for (std::uint64_t mask = admitted_mask(row + j, t); mask != 0; mask &= mask - 1) {
        // admit() tests again: a prune inside this loop may raise t.
        admit(j + std::countr_zero(mask));
      }
    }
    for (; j < n; ++j) admit(j);
  }
  state.count = count;
  state.seen += n;
  state.threshold = t;
  state.has_n = has_n;
}

template <typename Ties>
void ResultHandler<Ties>::tighten(int user, int slack) {
  UserState& state = users_[static_cast<std::size_t>(user)];
  if (state.count <= shape_.top_n + slack) return;
  state.threshold = Ties::prune(buffer(user), state.count, shape_.top_n, tmp_.data(), ties_);
  state.count = shape_.top_n;
  state.has_n = true;
}

template <typename Ties>
void ResultHandler<Ties>::end_block(std::int32_t* items, float* scores, std::int32_t* counts) {
  const int top_n = shape_.top_n;
  for (std::size_t i = 0; i < users_.size(); ++i) {
    const Candidates buf = buffer(static_cast<int>(i));
    int count = users_[i].count;
    if (count > top_n) {
      Ties::prune(buf, count, top_n, tmp_.data(), ties_);
      count = top_n;
    }
    const std::size_t out = i * top_n;
    write_ranked(buf, count, keys_.data(), items + out, scores + out);
    counts[i] = count;
  }
}

}  // namespace recs::selection
