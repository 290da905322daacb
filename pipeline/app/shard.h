// Sharded scoring: which part of the users one process of a scheduler's
// array (a Slurm array task, a Kubernetes Indexed Job pod) scores.
//
// Shard I of N holds a contiguous range of user ids: the stored model's
// users (ascending) cut into N runs of equal count, boundaries at
// user_ids[floor(i * U / N)]. Every process computes the same boundaries
// from the model alone; users the model does not know (folded in) belong
// to the range their id falls in.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace recs {

struct ShardSpec {
  int index = 0;  // 0..count-1
  int count = 1;
  std::string label() const;  // "2/4"
};

// The most shards a run may have.
inline constexpr int kMaxShards = 10000;

// "I/N", plain decimals, 0 <= I < N <= kMaxShards; throws UsageError
// (exit 2) naming `source` (e.g. "--shard") otherwise.
ShardSpec parse_shard(std::string_view text, std::string_view source = "--shard");

// Reads an environment variable; empty when unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup process_env();

// The shard this process scores:
//   --shard I/N given: that (with --shards too: a usage error);
//   --shards N given: I from JOB_COMPLETION_INDEX (Kubernetes Indexed
//     Job), which must be set;
//   otherwise, SLURM_ARRAY_TASK_ID set: I = SLURM_ARRAY_TASK_ID -
//     SLURM_ARRAY_TASK_MIN (0 when unset), N = SLURM_ARRAY_TASK_COUNT (an
//     array with a step other than 1 is refused: its ids are not dense);
//   otherwise none (one process scores everyone).
// Bad values throw UsageError naming the variable.
std::optional<ShardSpec> resolve_shard(const std::optional<std::string>& shard_flag,
                                       const std::optional<int>& shards_flag, const EnvLookup& env);

// Inclusive user id range of a shard.
struct UserIdSpan {
  std::int64_t first = 0;
  std::int64_t last = 0;
  bool contains(std::int64_t id) const { return id >= first && id <= last; }
  bool empty() const { return first > last; }
};

// Shard `spec`'s ids, given the model's user ids (ascending, distinct).
// The first shard starts at the smallest int64, the last ends at the
// largest, so every id belongs to exactly one shard. A shard past the
// model's user count (U < N) is empty.
UserIdSpan shard_users(const std::vector<std::int64_t>& model_user_ids, const ShardSpec& spec);

}  // namespace recs
