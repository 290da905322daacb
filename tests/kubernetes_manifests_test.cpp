// config/kubernetes/ is never applied here (no Kubernetes): its manifests
// are parsed with yaml-cpp and checked against what the night needs (an
// Indexed Job whose --shards equals its completions, the shards' data
// volume read-only, the libpq Secret), and their containers' command lines
// are run by hand against the real binary, as the Jobs would run them in
// order: train, every index of the score Job with JOB_COMPLETION_INDEX set
// as Kubernetes sets it, then the publish; the published set equals the
// one-process SQLite run.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "pg_server.h"
#include "shard_lists.h"
#include "test_util.h"

namespace recs::test {
namespace {

const std::filesystem::path kDir = source_dir() / "config" / "kubernetes";

YAML::Node job(const std::string& file) {
  const YAML::Node n = YAML::LoadFile((kDir / file).string());
  EXPECT_EQ(n["apiVersion"].as<std::string>(), "batch/v1") << file;
  EXPECT_EQ(n["kind"].as<std::string>(), "Job") << file;
  EXPECT_EQ(n["spec"]["template"]["spec"]["restartPolicy"].as<std::string>(), "Never") << file;
  EXPECT_EQ(n["spec"]["template"]["spec"]["containers"].size(), 1u) << file;
  return n;
}

YAML::Node container(const YAML::Node& job) {
  return job["spec"]["template"]["spec"]["containers"][0];
}

std::vector<std::string> command(const YAML::Node& job) {
  return container(job)["command"].as<std::vector<std::string>>();
}

// The manifest's command with the binary and the config replaced by the
// test's, quoted for the shell.
std::string local(std::vector<std::string> argv, const std::filesystem::path& config) {
  std::string out;
  for (std::string& a : argv) {
    if (a == "pipeline") a = pipeline_binary().string();
    if (a == "/etc/recs/prod.yaml") a = config.string();
    out += (out.empty() ? "" : " ") + quoted(std::filesystem::path(a));
  }
  return out;
}

bool mounts_read_only(const YAML::Node& job, const std::string& path) {
  for (const YAML::Node& m : container(job)["volumeMounts"]) {
    if (m["mountPath"].as<std::string>() == path) return m["readOnly"] && m["readOnly"].as<bool>();
  }
  ADD_FAILURE() << "no volume at " << path;
  return false;
}

TEST(KubernetesManifests, ParseAndMatchTheNight) {
  const YAML::Node train = job("train.yaml");
  const YAML::Node shards = job("score-shards.yaml");
  const YAML::Node publish = job("publish.yaml");
  EXPECT_EQ(train["metadata"]["name"].as<std::string>(), "recs-train");
  EXPECT_EQ(shards["metadata"]["name"].as<std::string>(), "recs-score-shards");
  EXPECT_EQ(publish["metadata"]["name"].as<std::string>(), "recs-publish");

  // The shards: an Indexed Job, --shards N equal to its completions.
  EXPECT_EQ(shards["spec"]["completionMode"].as<std::string>(), "Indexed");
  const int completions = shards["spec"]["completions"].as<int>();
  EXPECT_GE(completions, 1);
  EXPECT_LE(shards["spec"]["parallelism"].as<int>(), completions);
  const std::vector<std::string> score = command(shards);
  ASSERT_GE(score.size(), 4u);
  EXPECT_EQ(score[0], "pipeline");
  EXPECT_EQ(score[1], "score");
  const auto flag = std::find(score.begin(), score.end(), "--shards");
  ASSERT_NE(flag, score.end());
  ASSERT_NE(flag + 1, score.end());
  EXPECT_EQ(*(flag + 1), std::to_string(completions));
  EXPECT_EQ(std::find(score.begin(), score.end(), "--shard"), score.end());
  // Read-only data for the shards, written by train and publish; every
  // Job that talks to PostgreSQL gets the libpq Secret.
  EXPECT_TRUE(mounts_read_only(shards, "/var/lib/recs"));
  EXPECT_FALSE(mounts_read_only(train, "/var/lib/recs"));
  EXPECT_FALSE(mounts_read_only(publish, "/var/lib/recs"));
  for (const YAML::Node* j : {&shards, &publish}) {
    EXPECT_EQ(container(*j)["envFrom"][0]["secretRef"]["name"].as<std::string>(), "recs-postgres");
  }
  const std::vector<std::string> pub = command(publish);
  EXPECT_EQ(pub,
            (std::vector<std::string>{"pipeline", "publish", "--config", "/etc/recs/prod.yaml"}));
  // night.sh applies the three in order and waits for each.
  const std::string night = read_file(kDir / "night.sh");
  const auto at = [&](const char* s) { return night.find(s); };
  ASSERT_NE(at("train.yaml"), std::string::npos);
  EXPECT_LT(at("train.yaml"), at("score-shards.yaml"));
  EXPECT_LT(at("score-shards.yaml"), at("publish.yaml"));
}

TEST(KubernetesManifests, TheirCommandsRunTheNightByHand) {
  PgServer pg;
  TempDir dir;
  const std::filesystem::path config = make_dataset(dir, 200, 150, 5000,
                                                    "model: {type: als, factors: 8, epochs: 3}\n"
                                                    "score: {top_n: 10}\n"
                                                    "clusters: {users: 3, movies: 3}\n");
  // The one-process run of the same stored model, for comparison: train
  // once, publish it into SQLite with pipeline score.
  const std::string serve = " " + serve_postgres(pg.conninfo());
  const YAML::Node train = job("train.yaml");
  std::vector<std::string> sh = command(train);
  ASSERT_EQ(sh.size(), 3u);
  ASSERT_EQ(sh[0], "sh");
  std::string script = sh[2];
  for (std::string::size_type p; (p = script.find("/etc/recs/prod.yaml")) != std::string::npos;)
    script.replace(p, 19, config.string());
  for (std::string::size_type p = 0; (p = script.find("pipeline ", p)) != std::string::npos;) {
    script.replace(p, 9, pipeline_binary().string() + " ");
    p += pipeline_binary().string().size() + 1;
  }
  CommandResult r = run_command("sh -c " + quoted(std::filesystem::path(script)));
  ASSERT_EQ(r.exit_code, 0) << script << ": " << r.err;
  r = run_pipeline("score -q --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Lists want = sqlite_lists(dir / "recs.db");

  const YAML::Node shards = job("score-shards.yaml");
  const int completions = shards["spec"]["completions"].as<int>();
  for (int i = 0; i < completions; ++i) {
    r = run_command("JOB_COMPLETION_INDEX=" + std::to_string(i) + " " +
                    local(command(shards), config) + serve + " -q");
    ASSERT_EQ(r.exit_code, 0) << "index " << i << ": " << r.err;
  }
  r = run_command(local(command(job("publish.yaml")), config) + serve + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_lists(want, postgres_lists(pg.conninfo()), "the manifests' night");
  const CommandResult parts = psql_command(
      pg.conninfo(),
      "SELECT count(*) FROM recs_store.shard_parts JOIN recs_store.serving ON generation = live");
  EXPECT_EQ(parts.out.substr(0, parts.out.find('\n')), std::to_string(completions));
}

}  // namespace
}  // namespace recs::test
