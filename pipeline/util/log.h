// Logging to stderr with a timestamp and the stage name. stdout is reserved
// for results the user asked for.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace recs::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_level(Level level);
void set_stage(std::string_view stage);
void write(Level level, std::string_view message);

inline void info(std::string_view m) { write(Level::kInfo, m); }
inline void warn(std::string_view m) { write(Level::kWarn, m); }
inline void error(std::string_view m) { write(Level::kError, m); }
inline void debug(std::string_view m) { write(Level::kDebug, m); }

// Seconds since construction, for stage timings.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace recs::log
