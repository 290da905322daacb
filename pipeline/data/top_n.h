// A block of users' top-N lists: what the kernels produce and the publish
// step, the evaluation and the clustering read.
#pragma once

#include <cstdint>
#include <vector>

namespace recs {

// Top-N of a contiguous block of users [user_begin, user_end): for user
// user_begin + i, counts[i] entries at items[i * top_n ...] and
// scores[i * top_n ...], best first, ties broken by smaller movie index.
struct TopNBlock {
  int user_begin = 0;
  int user_end = 0;
  int top_n = 0;
  std::vector<std::int32_t> items;
  std::vector<float> scores;
  std::vector<std::int32_t> counts;
};

}  // namespace recs
