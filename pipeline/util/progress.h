// A progress line for long stages (import, training epochs, scoring and
// publishing), redrawn in place on stderr, only when stderr is a terminal
// and info lines are logged: cron logs and pipes never see it. Log lines
// written meanwhile clear it first (log::set_before_line), and the next update
// draws it again below them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace recs {

class Progress {
 public:
  // `what` names the work ("import", "train"), `unit` what is counted
  // ("ratings"); `total` 0 = unknown (the line shows the count alone).
  Progress(std::string_view what, std::int64_t total, std::string_view unit);
  ~Progress();  // clears the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Adds `n` done; thread-safe. Redraws at most every 100 ms.
  void add(std::int64_t n);
  // Sets the count done and redraws at once (for few, long steps such as
  // epochs); thread-safe.
  void set(std::int64_t done);

  // Whether progress lines are drawn in this process (stderr a terminal, and
  // the log level shows info lines); decided once, on first use.
  static bool enabled();

 private:
  void maybe_draw(bool now_anyway = false);

  std::string what_, unit_;
  std::int64_t total_;
  std::atomic<std::int64_t> done_{0};
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex mutex_;
  bool active_;
};

}  // namespace recs
