// libFuzzer target for the config loader.
//
// Each input is (1) written to a per-process file in /dev/shm (or /tmp) and
// loaded with recs::load_config(file, {}), and (2) split on '\n' and applied
// as `--set` overrides with recs::load_config({}, lines). recs::ConfigError is
// the expected refusal of a file, recs::UsageError of a --set; any other
// exception, crash or sanitizer report is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "util/error.h"

namespace {

const std::filesystem::path& temp_file() {
  static const std::filesystem::path path = [] {
    std::filesystem::path dir = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    return dir / ("recs_config_fuzz_" + std::to_string(::getpid()) + ".yaml");
  }();
  return path;
}

void remove_temp_file() { std::remove(temp_file().c_str()); }

void write_temp_file(const uint8_t* data, size_t size) {
  static bool registered = (std::atexit(remove_temp_file), true);
  (void)registered;
  FILE* f = std::fopen(temp_file().c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

void use(const recs::Config& c) {
  // Touch the result the way the pipeline does after loading.
  std::string s = recs::describe_config(c, false);
  volatile std::size_t sink = s.size() + c.where("database").size();
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  write_temp_file(data, size);
  try {
    use(recs::load_config(temp_file(), {}));
  } catch (const recs::ConfigError&) {
  }

  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    lines.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  try {
    use(recs::load_config({}, lines));
  } catch (const recs::ConfigError&) {
  } catch (const recs::UsageError&) {
  }
  return 0;
}
