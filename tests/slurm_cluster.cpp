#include "slurm_cluster.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace recs::test {
namespace fs = std::filesystem;
namespace {

// A TCP port nobody listens on right now (the kernel picks it).
int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(s);
    throw std::runtime_error("no free port");
  }
  const int port = ntohs(a.sin_port);
  close(s);
  return port;
}

std::string sh(const fs::path& p) { return quoted(p); }

void stop_child(int& pid) {
  if (pid <= 0) return;
  kill(-pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pid = -1;
}

}  // namespace

SlurmCluster::SlurmCluster(int cpus) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  node_ = host;
  for (const char* tool : {"/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch"}) {
    if (!fs::exists(tool)) {
      throw std::runtime_error(std::string(tool) +
                               " is missing: install slurm-wlm (the README's tests line)");
    }
  }
  fs::create_directories(dir() / "state");
  fs::create_directories(dir() / "spool");
  conf_ = dir() / "slurm.conf";
  const std::string d = dir().string();
  std::ostringstream c;
  c << "ClusterName=recstest\n"
    << "SlurmctldHost=" << node_ << "(127.0.0.1)\n"
    << "SlurmctldPort=" << free_port() << "\n"
    << "SlurmdPort=" << free_port() << "\n"
    << "AuthType=auth/none\nCredType=cred/none\n"
    << "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
    << "SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU_Memory\n"
    << "SchedulerType=sched/builtin\n"
    << "MpiDefault=none\nReturnToService=2\nSlurmUser=root\nSlurmdUser=root\n"
    << "JobCompType=jobcomp/none\nAccountingStorageType=accounting_storage/none\n"
    << "JobAcctGatherType=jobacct_gather/none\n"
    << "MinJobAge=600\nInactiveLimit=0\nKillWait=2\n"
    << "SchedulerParameters=defer_batch\n"
    << "StateSaveLocation=" << d << "/state\nSlurmdSpoolDir=" << d << "/spool\n"
    << "SlurmctldPidFile=" << d << "/slurmctld.pid\nSlurmdPidFile=" << d << "/slurmd.pid\n"
    << "SlurmctldLogFile=" << d << "/slurmctld.log\nSlurmdLogFile=" << d << "/slurmd.log\n"
    << "DefMemPerCPU=500\n"
    << "NodeName=" << node_ << " NodeAddr=127.0.0.1 CPUs=" << cpus << " RealMemory=" << 500 * cpus
    << " State=UNKNOWN\n"
    << "PartitionName=test Nodes=" << node_ << " Default=YES MaxTime=INFINITE State=UP\n";
  write_file(conf_, c.str());
  // -D: foreground, children of this process; -i: ignore saved state.
  ctld_pid_ = spawn("env SLURM_CONF=" + sh(conf_) + " /usr/sbin/slurmctld -D -i -f " + sh(conf_),
                    dir() / "slurmctld.out", dir() / "slurmctld.err");
  slurmd_pid_ =
      spawn("env SLURM_CONF=" + sh(conf_) + " /usr/sbin/slurmd -D -f " + sh(conf_) + " -N " + node_,
            dir() / "slurmd.out", dir() / "slurmd.err");
  // Ready once the node is idle.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    const CommandResult r = run("sinfo -h -N -o %t");
    if (r.exit_code == 0 && r.out.find("idle") != std::string::npos) break;
    if (std::chrono::steady_clock::now() > deadline) {
      const std::string logs = read_file(dir() / "slurmctld.log") + read_file(dir() / "slurmd.log");
      stop_child(slurmd_pid_);
      stop_child(ctld_pid_);
      throw std::runtime_error("the Slurm node did not become idle in 30 s: " + r.out + r.err +
                               "\n" + logs);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

SlurmCluster::~SlurmCluster() {
  run("scancel --quiet -u root");
  // Let the cancelled jobs' steps end before their daemons go.
  for (int i = 0; i < 50; ++i) {
    const CommandResult r = run("squeue -h -o %i");
    if (r.exit_code != 0 || r.out.find_first_not_of(" \n") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  stop_child(slurmd_pid_);
  stop_child(ctld_pid_);
}

std::string SlurmCluster::env() const { return "export SLURM_CONF=" + sh(conf_) + "; "; }

CommandResult SlurmCluster::run(const std::string& command) const {
  return run_command(env() + command);
}

std::int64_t SlurmCluster::sbatch(const std::string& args) const {
  const CommandResult r = run("sbatch --parsable " + args);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "sbatch " << args << ": " << r.err;
    return -1;
  }
  return std::stoll(r.out.substr(0, r.out.find_first_of(";\n")));
}

bool SlurmCluster::wait_done(const std::vector<std::int64_t>& jobs, double timeout) const {
  std::string list;
  for (std::int64_t j : jobs) list += (list.empty() ? "" : ",") + std::to_string(j);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  while (std::chrono::steady_clock::now() < deadline) {
    const CommandResult r = run("squeue -h -o %i -t PENDING,RUNNING,CONFIGURING,COMPLETING -j " +
                                list + " 2>/dev/null");
    if (r.exit_code == 0 && r.out.find_first_not_of(" \n") == std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::map<std::string, std::string> SlurmCluster::states(std::int64_t job) const {
  std::map<std::string, std::string> out;
  const CommandResult r = run("scontrol -o show job " + std::to_string(job));
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    auto field = [&](const std::string& key) {
      const auto at = line.find(" " + key + "=") != std::string::npos
                          ? line.find(" " + key + "=") + 1
                          : (line.rfind(key + "=", 0) == 0 ? 0 : std::string::npos);
      if (at == std::string::npos) return std::string();
      const auto begin = at + key.size() + 1;
      return line.substr(begin, line.find(' ', begin) - begin);
    };
    std::string id = field("JobId");
    const std::string task = field("ArrayTaskId");
    if (!task.empty()) id = field("ArrayJobId") + "_" + task;
    if (!id.empty()) out[id] = field("JobState");
  }
  return out;
}

}  // namespace recs::test
