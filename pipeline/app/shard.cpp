#include "app/shard.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <limits>

#include "util/error.h"

namespace recs {
namespace {

// A plain decimal in [lo, hi], or empty.
std::optional<long long> plain_number(std::string_view text, long long lo, long long hi) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi) {
    return std::nullopt;
  }
  return value;
}

long long env_number(const EnvLookup& env, const char* name, long long lo, long long hi) {
  const std::optional<std::string> text = env(name);
  if (!text) throw UsageError(fmt::format("{} is not set", name));
  const auto value = plain_number(*text, lo, hi);
  if (!value) {
    throw UsageError(
        fmt::format("{}: expected a whole number in {}..{}, got '{}'", name, lo, hi, *text));
  }
  return *value;
}

}  // namespace

std::string ShardSpec::label() const { return fmt::format("{}/{}", index, count); }

ShardSpec parse_shard(std::string_view text, std::string_view source) {
  const auto slash = text.find('/');
  const auto bad = [&](std::string_view why) {
    return UsageError(fmt::format("{}: {}, got '{}'", source, why, text));
  };
  if (slash == std::string_view::npos) throw bad("expected I/N (shard I of N, 0 <= I < N)");
  const auto i = plain_number(text.substr(0, slash), 0, kMaxShards - 1);
  const auto n = plain_number(text.substr(slash + 1), 1, kMaxShards);
  if (!i || !n) {
    throw bad(fmt::format("expected I/N with whole numbers, 0 <= I < N <= {}", kMaxShards));
  }
  if (*i >= *n) throw bad("the shard index must be below the shard count");
  return {static_cast<int>(*i), static_cast<int>(*n)};
}

EnvLookup process_env() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::optional<ShardSpec> resolve_shard(const std::optional<std::string>& shard_flag,
                                       const std::optional<int>& shards_flag,
                                       const EnvLookup& env) {
  if (shard_flag) {
    if (shards_flag) {
      throw UsageError(
          "--shard I/N and --shards N exclude each other (--shards takes the index "
          "from JOB_COMPLETION_INDEX)");
    }
    return parse_shard(*shard_flag);
  }
  if (shards_flag) {
    if (*shards_flag < 1 || *shards_flag > kMaxShards) {
      throw UsageError(fmt::format("--shards: expected 1..{}, got {}", kMaxShards, *shards_flag));
    }
    if (!env("JOB_COMPLETION_INDEX")) {
      throw UsageError(
          "--shards N takes the shard index from JOB_COMPLETION_INDEX (a Kubernetes Indexed "
          "Job sets it), which is not set; or give --shard I/N");
    }
    const long long i = env_number(env, "JOB_COMPLETION_INDEX", 0, kMaxShards - 1);
    if (i >= *shards_flag) {
      throw UsageError(
          fmt::format("JOB_COMPLETION_INDEX is {}, not below --shards {} (the Job's completions)",
                      i, *shards_flag));
    }
    return ShardSpec{static_cast<int>(i), *shards_flag};
  }
  if (!env("SLURM_ARRAY_TASK_ID")) return std::nullopt;
  const long long id = env_number(env, "SLURM_ARRAY_TASK_ID", 0, 999999999);
  const long long min =
      env("SLURM_ARRAY_TASK_MIN") ? env_number(env, "SLURM_ARRAY_TASK_MIN", 0, 999999999) : 0;
  const long long count = env_number(env, "SLURM_ARRAY_TASK_COUNT", 1, kMaxShards);
  if (env("SLURM_ARRAY_TASK_STEP")) {
    const long long step = env_number(env, "SLURM_ARRAY_TASK_STEP", 1, 999999999);
    if (step != 1) {
      throw UsageError(
          fmt::format("SLURM_ARRAY_TASK_STEP is {}: shards need a dense array (--array=0-{})", step,
                      count - 1));
    }
  }
  if (id < min || id - min >= count) {
    throw UsageError(
        fmt::format("SLURM_ARRAY_TASK_ID {} minus SLURM_ARRAY_TASK_MIN {} is not below "
                    "SLURM_ARRAY_TASK_COUNT {}: shards need a dense array (--array=0-{})",
                    id, min, count, count - 1));
  }
  return ShardSpec{static_cast<int>(id - min), static_cast<int>(count)};
}

UserIdSpan shard_users(const std::vector<std::int64_t>& ids, const ShardSpec& spec) {
  const auto users = static_cast<std::uint64_t>(ids.size());
  const auto n = static_cast<std::uint64_t>(spec.count);
  // Start of shard i in `ids`; floor(i * U / N) without overflow for any U.
  auto start = [&](std::uint64_t i) { return static_cast<std::size_t>((i * users) / n); };
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const auto i = static_cast<std::uint64_t>(spec.index);
  const std::size_t begin = start(i), end = start(i + 1);
  UserIdSpan span;
  span.first = i == 0 ? kMin : (begin < ids.size() ? ids[begin] : kMax);
  span.last = i + 1 == n ? kMax : (end < ids.size() ? ids[end] - 1 : kMax);
  if (i != 0 && begin == end) {
    // No model user falls here: empty, whatever the ids around it.
    span.first = 1;
    span.last = 0;
  }
  if (ids.empty() && i != 0) {
    span.first = 1;
    span.last = 0;
  }
  return span;
}

}  // namespace recs
