// A private one-node Slurm cluster for one test: slurm.conf in a temporary
// folder (state and spool folders there too, private ports, no munge:
// auth/none and cred/none), slurmctld and slurmd started in the
// foreground as children of the test and stopped (every job cancelled,
// then both daemons killed and reaped) on destruction. Needs root and
// Debian's slurm-wlm; a missing installation fails the test: CI installs
// it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "test_util.h"

namespace recs::test {

class SlurmCluster {
 public:
  // `cpus` of the one node; DefMemPerCPU lets that many tasks run at once.
  explicit SlurmCluster(int cpus = 2);
  ~SlurmCluster();
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  // "export SLURM_CONF='...'; ": prefix for client command lines (sbatch, squeue...).
  std::string env() const;
  // Runs a client command line against this cluster.
  CommandResult run(const std::string& command) const;
  // sbatch --parsable `args`; returns the job id (fails the test otherwise).
  std::int64_t sbatch(const std::string& args) const;
  // Waits until none of `jobs` is pending or running; false on timeout.
  bool wait_done(const std::vector<std::int64_t>& jobs, double timeout_seconds) const;
  // Each record of job `job` (one per array task: "12_3"), its JobState
  // (COMPLETED, FAILED, CANCELLED, ...).
  std::map<std::string, std::string> states(std::int64_t job) const;

  const std::filesystem::path& dir() const { return dir_.path(); }
  const std::string& node() const { return node_; }

 private:
  TempDir dir_;
  std::filesystem::path conf_;
  std::string node_;
  int ctld_pid_ = -1;
  int slurmd_pid_ = -1;
};

}  // namespace recs::test
