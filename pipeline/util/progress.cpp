#include "util/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "util/log.h"

namespace recs {
namespace {
// A progress line is on the screen (the cursor is at its end).
std::atomic<bool> g_shown{false};

std::string count_text(std::int64_t n) {
  if (n >= 10'000'000) return fmt::format("{:.1f} M", static_cast<double>(n) / 1e6);
  if (n >= 100'000) return fmt::format("{:.0f} k", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

// Clears a progress line being shown. Callers hold the log's lock.
void clear_progress_line() {
  if (g_shown.exchange(false)) std::fputs("\r\033[K", stderr);
}
}  // namespace

bool Progress::enabled() {
  static const bool tty = ::isatty(STDERR_FILENO) == 1;
  return tty && log::enabled(log::Level::kInfo);
}

Progress::Progress(std::string_view what, std::int64_t total, std::string_view unit)
    : what_(what),
      unit_(unit),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)),  // the first update draws
      active_(enabled()) {
  if (active_) log::set_before_line(&clear_progress_line);
}

Progress::~Progress() {
  if (!active_) return;
  log::with_lock([] { clear_progress_line(); });
}

void Progress::add(std::int64_t n) {
  done_ += n;
  if (active_) maybe_draw();
}

void Progress::set(std::int64_t done) {
  done_ = done;
  if (active_) maybe_draw(true);
}

void Progress::maybe_draw(bool now_anyway) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    if (!now_anyway && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
  }
  const std::int64_t done = done_;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::string text = what_ + ": " + count_text(done);
  if (total_ > 0) {
    text += fmt::format(" of {} {} ({:.0f} %)", count_text(total_), unit_,
                        100.0 * static_cast<double>(done) / static_cast<double>(total_));
  } else {
    text += " " + unit_;
  }
  text += fmt::format(", {:.1f} s", seconds);
  log::with_lock([&] {
    std::fputs(("\r" + text + "\033[K").c_str(), stderr);
    std::fflush(stderr);
    g_shown = true;
  });
}

}  // namespace recs
