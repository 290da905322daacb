// What a publication changes for the users, measured while it is written:
// the churn of the top-N lists against the set it replaces, and the share of
// the candidate movies that reach anyone's list. Free of the database so the
// arithmetic can be checked on hand-built lists.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "data/top_n.h"

namespace recs::eval {

// How much of one user's list stayed: |old ∩ new| / max(|old|, |new|),
// order ignored (a movie that moved rank stayed). 1 for identical lists,
// 0 for disjoint ones; both empty counts as 1. Lists hold distinct ids.
double list_overlap(std::vector<std::int64_t> old_list, std::vector<std::int64_t> new_list);

// The figures of one publication:
//   churn = 1 - mean over users with a list in both the previous set and
//           the new one of list_overlap(old, new)
// (users who appear or disappear are counted apart, not as churn), so a
// re-run that publishes the same lists has churn 0 and one that replaces
// every list with unrelated movies has churn 1; and
//   coverage = distinct movies in at least one new list / candidate movies.
class PublicationChanges {
 public:
  // Fills `out` with `user`'s list in the previous set (empty when the user
  // had none). Called with strictly ascending user ids, so a backend can
  // stream the previous set in key order.
  using PreviousLists = std::function<void(std::int64_t user, std::vector<std::int64_t>& out)>;

  // `candidates`: how many movies could be recommended (the coverage's
  // denominator). Without `previous` (nothing was published, or the old set
  // cannot be read) there is no churn.
  PublicationChanges(std::size_t candidates, PreviousLists previous);

  // A scored block as the publisher receives it: row i is user
  // user_ids[user_begin + i], its items index candidate_ids (external movie
  // ids, candidates() of them, the same on every call). Blocks come in
  // ascending user order.
  void add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
           const std::vector<std::int64_t>& candidate_ids);

  // Empty when no user has a list in both sets.
  std::optional<double> churn() const;
  std::int64_t users_compared() const { return compared_; }  // in both sets
  std::int64_t users_new() const { return new_users_; }      // a new list, none before
  double coverage() const;
  std::int64_t movies_covered() const { return covered_; }
  std::size_t candidates() const { return seen_.size(); }

 private:
  PreviousLists previous_;
  std::vector<char> seen_;  // per candidate: in some new list
  std::int64_t covered_ = 0;
  // Per candidate: the number of the last user whose new list holds it, so
  // an old list is checked against the new one in one pass, without sorts.
  std::vector<std::int64_t> in_list_of_;
  std::int64_t list_number_ = 0;
  std::unordered_map<std::int64_t, std::int32_t> candidate_of_;  // external id -> index
  std::vector<std::int64_t> old_list_;                           // reused per user
  double overlap_sum_ = 0;
  std::int64_t compared_ = 0;
  std::int64_t new_users_ = 0;
};

}  // namespace recs::eval
