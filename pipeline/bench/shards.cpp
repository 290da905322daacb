#include "bench/shards.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>

#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

namespace recs {
namespace {

struct Child {
  pid_t pid = -1;
  std::chrono::steady_clock::time_point start;
  double seconds = 0;
  double peak_mb = 0;
};

// Starts this binary with `args` (stdout and stderr inherited, -q).
Child start(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  static const std::string self = "/proc/self/exe";
  std::vector<std::string> all{"pipeline", "-q"};
  all.insert(all.end(), args.begin(), args.end());
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  c.start = std::chrono::steady_clock::now();
  c.pid = fork();
  if (c.pid == 0) {
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  if (c.pid < 0) throw Error(ExitCode::kInternal, "bench shards: fork failed");
  return c;
}

// Waits for every child; fills its seconds and peak RSS.
void wait_all(std::vector<Child>& children, const std::string& what) {
  std::map<pid_t, Child*> by_pid;
  for (Child& c : children) by_pid[c.pid] = &c;
  for (std::size_t left = children.size(); left > 0; --left) {
    int status = 0;
    rusage usage{};
    const pid_t pid = wait4(-1, &status, 0, &usage);
    auto it = by_pid.find(pid);
    if (pid < 0 || it == by_pid.end()) continue;
    Child& c = *it->second;
    c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.start).count();
    c.peak_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw Error(
          ExitCode::kInternal,
          "bench shards: " + what + " failed (exit status " +
              std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) +
              ")");
    }
  }
}

}  // namespace

std::string bench_shards(const ShardsBenchOptions& o) {
  std::vector<std::string> common{"--config", o.config.string()};
  for (const std::string& s : o.sets) {
    common.push_back("--set");
    common.push_back(s);
  }
  for (int n : o.shards) {
    if (n < 1 || n > 10000) {
      throw UsageError("bench shards --shards: expected counts in 1..10000, got " +
                       std::to_string(n));
    }
  }
  JsonObject out;
  for (int n : o.shards) {
    log::info("{} shard(s) at once", n);
    const auto begin = std::chrono::steady_clock::now();
    std::vector<Child> shards;
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> args{"score", "--shard",
                                    std::to_string(i) + "/" + std::to_string(n)};
      args.insert(args.end(), common.begin(), common.end());
      shards.push_back(start(args));
    }
    wait_all(shards, std::to_string(n) + " shards");
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    std::vector<std::string> args{"publish"};
    args.insert(args.end(), common.begin(), common.end());
    std::vector<Child> publish{start(args)};
    wait_all(publish, "publish");
    JsonObject r;
    std::string seconds = "[", peaks = "[";
    for (std::size_t i = 0; i < shards.size(); ++i) {
      seconds += (i ? "," : "") + std::to_string(shards[i].seconds);
      peaks += (i ? "," : "") + std::to_string(shards[i].peak_mb);
    }
    r.add_raw("shard_seconds", seconds + "]");
    r.add_raw("shard_peak_mb", peaks + "]");
    r.add("shards_wall_seconds", wall);
    r.add("publish_seconds", publish[0].seconds);
    r.add("publish_peak_mb", publish[0].peak_mb);
    log::info("{} shard(s): {:.2f} s wall, publish {:.2f} s", n, wall, publish[0].seconds);
    out.add_raw("shards_" + std::to_string(n), r.str());
  }
  return out.str();
}

}  // namespace recs
