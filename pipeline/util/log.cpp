#include "util/log.h"

#include <fmt/chrono.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace recs::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_mutex;
std::string g_stage = "main";
}  // namespace

void set_level(Level level) { g_level = static_cast<int>(level); }

void set_stage(std::string_view stage) {
  std::lock_guard lock(g_mutex);
  g_stage = stage;
}

void write(Level level, std::string_view message) {
  if (static_cast<int>(level) < g_level) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  auto now = std::chrono::system_clock::now();
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc = fmt::gmtime(std::chrono::system_clock::to_time_t(now));
  std::lock_guard lock(g_mutex);
  // One write per line, so lines from threads never interleave.
  fmt::print(stderr, "{:%Y-%m-%dT%H:%M:%S}.{:03}Z {:<5} [{}] {}\n", utc, ms,
             kNames[static_cast<int>(level)], g_stage, message);
}

}  // namespace recs::log
