// The private Slurm cluster itself, as the sharded night uses it: an array
// job's tasks see SLURM_ARRAY_TASK_ID/MIN/COUNT (which `pipeline score`
// maps to a shard), an afterok job runs after them all, and a task that
// exits non-zero cancels it (--kill-on-invalid-dep).
#include "slurm_cluster.h"

#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace recs::test {
namespace {

TEST(SlurmCluster, ArrayThenAfterokAndAFailingTaskCancelsTheDependent) {
  SlurmCluster slurm;
  TempDir out;
  const std::string o = out.path().string();
  write_file(out / "task.sh",
             "#!/bin/sh\necho \"$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_MIN "
             "$SLURM_ARRAY_TASK_COUNT\" > " +
                 o + "/task_$SLURM_ARRAY_TASK_ID\n[ \"$SLURM_ARRAY_TASK_ID\" != \"$FAIL\" ]\n");
  write_file(out / "after.sh", "#!/bin/sh\ntouch " + o + "/after_$FAIL\n");
  const std::string common = "--chdir=" + o + " -o " + o + "/%x_%A_%a.out ";
  // All tasks succeed: the dependent job runs.
  std::int64_t array =
      slurm.sbatch(common + "--export=ALL,FAIL=none --array=2-4 " + quoted(out / "task.sh"));
  std::int64_t after =
      slurm.sbatch(common + "--export=ALL,FAIL=none --dependency=afterok:" + std::to_string(array) +
                   " --kill-on-invalid-dep=yes " + quoted(out / "after.sh"));
  ASSERT_TRUE(slurm.wait_done({array, after}, 60));
  for (int t = 2; t <= 4; ++t) {
    EXPECT_EQ(read_file(out / ("task_" + std::to_string(t))), std::to_string(t) + " 2 3\n");
  }
  EXPECT_TRUE(std::filesystem::exists(out / "after_none"));
  for (const auto& [id, state] : slurm.states(array)) EXPECT_EQ(state, "COMPLETED") << id;
  // Task 1 fails: the dependent job is cancelled, never run.
  array = slurm.sbatch(common + "--export=ALL,FAIL=1 --array=0-1 " + quoted(out / "task.sh"));
  after =
      slurm.sbatch(common + "--export=ALL,FAIL=1 --dependency=afterok:" + std::to_string(array) +
                   " --kill-on-invalid-dep=yes " + quoted(out / "after.sh"));
  ASSERT_TRUE(slurm.wait_done({array, after}, 60));
  const auto tasks = slurm.states(array);
  EXPECT_EQ(tasks.at(std::to_string(array) + "_0"), "COMPLETED");
  EXPECT_EQ(tasks.at(std::to_string(array) + "_1"), "FAILED");
  EXPECT_EQ(slurm.states(after).at(std::to_string(after)), "CANCELLED");
  EXPECT_FALSE(std::filesystem::exists(out / "after_1"));
}

}  // namespace
}  // namespace recs::test
