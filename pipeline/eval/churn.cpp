#include "eval/churn.h"

#include <algorithm>
#include <iterator>
#include <limits>

namespace recs::eval {

double list_overlap(std::vector<std::int64_t> old_list, std::vector<std::int64_t> new_list) {
  const std::size_t longest = std::max(old_list.size(), new_list.size());
  if (longest == 0) return 1.0;
  std::sort(old_list.begin(), old_list.end());
  std::sort(new_list.begin(), new_list.end());
  std::vector<std::int64_t> common;
  std::set_intersection(old_list.begin(), old_list.end(), new_list.begin(), new_list.end(),
                        std::back_inserter(common));
  return static_cast<double>(common.size()) / static_cast<double>(longest);
}

PublicationChanges::PublicationChanges(std::size_t candidates, PreviousLists previous)
    : previous_(std::move(previous)), seen_(candidates, 0) {}

void PublicationChanges::add(const TopNBlock& b, const std::vector<std::int64_t>& user_ids,
                             const std::vector<std::int64_t>& candidate_ids) {
  if (previous_ && candidate_of_.empty()) {
    in_list_of_.assign(candidate_ids.size(), 0);
    candidate_of_.reserve(candidate_ids.size());
    for (std::size_t j = 0; j < candidate_ids.size(); ++j)
      candidate_of_.emplace(candidate_ids[j], static_cast<std::int32_t>(j));
  }
  for (int i = 0; i < b.user_end - b.user_begin; ++i) {
    const auto count = static_cast<std::size_t>(b.counts[static_cast<std::size_t>(i)]);
    const std::int32_t* items =
        b.items.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(b.top_n);
    ++list_number_;
    for (std::size_t k = 0; k < count; ++k) {
      const auto item = static_cast<std::size_t>(items[k]);
      covered_ += !seen_[item];
      seen_[item] = 1;
      if (previous_) in_list_of_[item] = list_number_;
    }
    if (!previous_ || count == 0) continue;
    previous_(user_ids[static_cast<std::size_t>(b.user_begin + i)], old_list_);
    if (old_list_.empty()) {
      ++new_users_;
      continue;
    }
    // A movie the new candidates lack (filtered now, unknown to the new
    // model) is simply not in common.
    std::size_t common = 0;
    for (const std::int64_t movie : old_list_) {
      const auto it = candidate_of_.find(movie);
      common += it != candidate_of_.end() &&
                in_list_of_[static_cast<std::size_t>(it->second)] == list_number_;
    }
    overlap_sum_ +=
        static_cast<double>(common) / static_cast<double>(std::max(count, old_list_.size()));
    ++compared_;
  }
}

std::optional<double> PublicationChanges::churn() const {
  if (compared_ == 0) return std::nullopt;
  return 1.0 - overlap_sum_ / static_cast<double>(compared_);
}

double PublicationChanges::coverage() const {
  if (seen_.empty()) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(covered_) / static_cast<double>(seen_.size());
}

}  // namespace recs::eval
