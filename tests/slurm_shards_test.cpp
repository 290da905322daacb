// The sharded night on the real engine: a one-node Slurm cluster and a
// private PostgreSQL server; config/slurm/night.sh submits train, the array
// of 4 shards (afterok) and the publish (afterok); the published set equals
// the one-process SQLite run of the same stored model. A shard that exits
// non-zero cancels the publish and leaves the live set; re-running that
// shard and publishing gives the identical set.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "pg_server.h"
#include "shard_lists.h"
#include "slurm_cluster.h"
#include "test_util.h"

namespace recs::test {
namespace {

// A command line for sbatch --wrap, single-quoted.
std::string wrap(const std::string& command) { return "--wrap '" + command + "'"; }

std::string chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST(SlurmShards, NightOnSlurmEqualsOneProcessAndAFailedShardCancelsThePublish) {
  PgServer pg;
  SlurmCluster slurm;
  TempDir dir;
  const std::string model =
      "model: {type: als, factors: 16, epochs: 4}\nscore: {top_n: 20}\n"
      "clusters: {users: 4, movies: 4}\n";
  const auto sqlite_config = make_dataset(dir, 300, 250, 9000, model);
  const auto config = dir / "sharded.yaml";
  write_file(config, read_file(sqlite_config) + "serve: {postgres: '" + pg.conninfo() + "'}\n");
  const std::string o = dir.path().string();
  auto submit_night = [&] {
    const CommandResult r = slurm.run(
        "cd " + quoted(dir.path()) + " && RECS_PIPELINE=" + quoted(pipeline_binary()) + " " +
        quoted(source_dir() / "config/slurm/night.sh") + " " + quoted(config) + " 4");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream ids(r.out);
    std::int64_t train = 0, score = 0, publish = 0;
    ids >> train >> score >> publish;
    return std::vector<std::int64_t>{train, score, publish};
  };
  std::vector<std::int64_t> jobs = submit_night();
  ASSERT_TRUE(slurm.wait_done(jobs, 240));
  EXPECT_EQ(slurm.states(jobs[0]).at(std::to_string(jobs[0])), "COMPLETED");
  const auto shards = slurm.states(jobs[1]);
  ASSERT_EQ(shards.size(), 4u);
  for (const auto& [id, state] : shards) EXPECT_EQ(state, "COMPLETED") << id;
  ASSERT_EQ(slurm.states(jobs[2]).at(std::to_string(jobs[2])), "COMPLETED")
      << read_file(dir / ("recs-publish-" + std::to_string(jobs[2]) + ".out"));
  // The one-process SQLite run of the same stored model.
  CommandResult r = run_pipeline("score -q --config " + quoted(sqlite_config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Lists want = sqlite_lists(dir / "recs.db");
  expect_same_lists(want, postgres_lists(pg.conninfo()), "4 Slurm shards");
  const std::string live =
      chomp(psql_command(pg.conninfo(), "SELECT live FROM recs_store.serving").out);

  // The next night, shard 2 fails (its server is unreachable): the publish
  // is cancelled, the live set stays.
  const auto broken = dir / "broken.yaml";
  write_file(broken, read_file(sqlite_config) +
                         "serve: {postgres: 'host=/nonexistent port=1 dbname=recs "
                         "connect_timeout=2'}\n");
  write_file(dir / "shard.sh", "#!/bin/sh\nc=" + quoted(config) +
                                   "\n[ \"$SLURM_ARRAY_TASK_ID\" = 2 ] && c=" + quoted(broken) +
                                   "\nexec " + quoted(pipeline_binary()) +
                                   " score --config \"$c\"\n");
  const std::string common = "--chdir=" + o + " -o " + o + "/%x-%A_%a.out ";
  const std::int64_t array = slurm.sbatch(common + "--array=0-3 " + quoted(dir / "shard.sh"));
  std::int64_t publish = slurm.sbatch(
      common + "--dependency=afterok:" + std::to_string(array) + " --kill-on-invalid-dep=yes " +
      wrap(pipeline_binary().string() + " publish --config " + config.string()));
  ASSERT_TRUE(slurm.wait_done({array, publish}, 120));
  const auto tasks = slurm.states(array);
  EXPECT_EQ(tasks.at(std::to_string(array) + "_2"), "FAILED");
  EXPECT_EQ(tasks.at(std::to_string(array) + "_0"), "COMPLETED");
  EXPECT_EQ(slurm.states(publish).at(std::to_string(publish)), "CANCELLED");
  EXPECT_EQ(chomp(psql_command(pg.conninfo(), "SELECT live FROM recs_store.serving").out), live);
  // Re-run shard 2 alone, then publish after it: the identical set.
  const std::int64_t rerun =
      slurm.sbatch(common + wrap(pipeline_binary().string() + " score --config " + config.string() +
                                 " --shard 2/4"));
  publish = slurm.sbatch(common + "--dependency=afterok:" + std::to_string(rerun) +
                         " --kill-on-invalid-dep=yes " +
                         wrap(pipeline_binary().string() + " publish --config " + config.string()));
  ASSERT_TRUE(slurm.wait_done({rerun, publish}, 120));
  ASSERT_EQ(slurm.states(publish).at(std::to_string(publish)), "COMPLETED");
  EXPECT_NE(chomp(psql_command(pg.conninfo(), "SELECT live FROM recs_store.serving").out), live);
  expect_same_lists(want, postgres_lists(pg.conninfo()), "after the re-run shard");
}

}  // namespace
}  // namespace recs::test
