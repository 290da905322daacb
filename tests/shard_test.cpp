// Sharded scoring: the shard spec and its sources (flag, Slurm array, Kubernetes
// Indexed Job), the partition of the users, the user-range read of the
// ratings, the parts of "popular in your cluster", and every shard's rows
// against the one-process SQLite run on the same stored model.
#include "app/shard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "app/score.h"
#include "app/train.h"
#include "cluster/kmeans.h"
#include "cluster/popular.h"
#include "config/config.h"
#include "db/database.h"
#include "db/ratings.h"
#include "db/sqlite.h"
#include "test_util.h"
#include "util/error.h"

namespace recs {
namespace {

using test::quoted;
using test::run_pipeline;
using test::TempDir;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ShardSpec, ParsesIOfN) {
  EXPECT_EQ(parse_shard("0/1").index, 0);
  EXPECT_EQ(parse_shard("3/4").index, 3);
  EXPECT_EQ(parse_shard("3/4").count, 4);
  EXPECT_EQ(parse_shard("9999/10000").count, 10000);
  EXPECT_EQ(parse_shard("2/7").label(), "2/7");
}

TEST(ShardSpec, RejectsBadValuesAsUsageErrors) {
  for (const char* bad : {"4/4",   "5/4",     "-1/4",  "1/-4", "a/4",
                          "1/b",   "1/0",     "0/0",   "1",    "1/",
                          "/4",    "1/4/5",   " 1/4",  "1/4 ", "+1/4",
                          "1.0/4", "0/10001", "0x1/4", "",     "99999999999999999999/4"}) {
    try {
      parse_shard(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--shard"), std::string::npos) << e.what();
    }
  }
}

TEST(ShardSpec, FlagWinsAndExcludesShards) {
  const auto s =
      resolve_shard(std::string("1/3"), std::nullopt,
                    env_of({{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_COUNT", "9"}}));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 1);
  EXPECT_EQ(s->count, 3);
  EXPECT_THROW(resolve_shard(std::string("1/3"), 3, env_of({})), UsageError);
}

TEST(ShardSpec, NoneWithoutFlagOrArray) {
  EXPECT_FALSE(resolve_shard(std::nullopt, std::nullopt, env_of({})));
  // JOB_COMPLETION_INDEX alone does not shard: --shards N says how many.
  EXPECT_FALSE(resolve_shard(std::nullopt, std::nullopt, env_of({{"JOB_COMPLETION_INDEX", "1"}})));
}

TEST(ShardSpec, SlurmArrayTaskIdMinusMin) {
  auto s = resolve_shard(std::nullopt, std::nullopt,
                         env_of({{"SLURM_ARRAY_TASK_ID", "6"},
                                 {"SLURM_ARRAY_TASK_MIN", "4"},
                                 {"SLURM_ARRAY_TASK_COUNT", "3"},
                                 {"SLURM_ARRAY_TASK_STEP", "1"}}));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 2);
  EXPECT_EQ(s->count, 3);
  // MIN unset: 0.
  s = resolve_shard(std::nullopt, std::nullopt,
                    env_of({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "2"}}));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 1);
  EXPECT_EQ(s->count, 2);
}

TEST(ShardSpec, SlurmBadValues) {
  const std::vector<std::map<std::string, std::string>> bad = {
      {{"SLURM_ARRAY_TASK_ID", "1"}},                                    // no count
      {{"SLURM_ARRAY_TASK_ID", "x"}, {"SLURM_ARRAY_TASK_COUNT", "2"}},   // not a number
      {{"SLURM_ARRAY_TASK_ID", "-1"}, {"SLURM_ARRAY_TASK_COUNT", "2"}},  // negative
      {{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "2"}},   // past the count
      {{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "0"}},   // no shards
      {{"SLURM_ARRAY_TASK_ID", "3"},                                     // below MIN
       {"SLURM_ARRAY_TASK_MIN", "4"},
       {"SLURM_ARRAY_TASK_COUNT", "2"}},
      {{"SLURM_ARRAY_TASK_ID", "2"},  // a step: not dense
       {"SLURM_ARRAY_TASK_MIN", "0"},
       {"SLURM_ARRAY_TASK_COUNT", "3"},
       {"SLURM_ARRAY_TASK_STEP", "2"}},
      {{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "2 "}},  // trailing space
  };
  for (const auto& vars : bad) {
    std::ostringstream what;
    for (const auto& [k, v] : vars) what << k << "=" << v << " ";
    EXPECT_THROW(resolve_shard(std::nullopt, std::nullopt, env_of(vars)), UsageError) << what.str();
  }
}

TEST(ShardSpec, KubernetesJobCompletionIndex) {
  auto s = resolve_shard(std::nullopt, 4, env_of({{"JOB_COMPLETION_INDEX", "3"}}));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 3);
  EXPECT_EQ(s->count, 4);
  EXPECT_THROW(resolve_shard(std::nullopt, 4, env_of({})), UsageError);
  EXPECT_THROW(resolve_shard(std::nullopt, 4, env_of({{"JOB_COMPLETION_INDEX", "4"}})), UsageError);
  EXPECT_THROW(resolve_shard(std::nullopt, 4, env_of({{"JOB_COMPLETION_INDEX", "one"}})),
               UsageError);
  EXPECT_THROW(resolve_shard(std::nullopt, 0, env_of({{"JOB_COMPLETION_INDEX", "0"}})), UsageError);
  EXPECT_THROW(resolve_shard(std::nullopt, 10001, env_of({{"JOB_COMPLETION_INDEX", "0"}})),
               UsageError);
}

// Every id belongs to exactly one shard, shards are contiguous in id and
// ordered, and hold the model's users in counts that differ by at most one.
TEST(ShardPartition, ContiguousDisjointCoveringBalanced) {
  std::mt19937_64 rng(5);
  for (int users : {0, 1, 2, 3, 7, 100, 1001}) {
    std::set<std::int64_t> pick;
    while (static_cast<int>(pick.size()) < users)
      pick.insert(1 + static_cast<std::int64_t>(rng() % 50000));
    const std::vector<std::int64_t> ids(pick.begin(), pick.end());
    for (int n : {1, 2, 3, 4, 7, 16}) {
      std::vector<UserIdSpan> spans;
      for (int i = 0; i < n; ++i) spans.push_back(shard_users(ids, {i, n}));
      // Covering and disjoint over the non-empty spans, in order.
      std::int64_t next = std::numeric_limits<std::int64_t>::min();
      bool done = false;
      std::vector<std::int64_t> sizes;
      for (const UserIdSpan& s : spans) {
        std::int64_t in = 0;
        for (std::int64_t id : ids) in += s.contains(id);
        sizes.push_back(in);
        if (s.empty()) continue;
        ASSERT_FALSE(done) << users << " users, " << n << " shards";
        EXPECT_EQ(s.first, next) << users << " users, " << n << " shards";
        if (s.last == std::numeric_limits<std::int64_t>::max()) {
          done = true;
        } else {
          next = s.last + 1;
        }
      }
      EXPECT_TRUE(done) << users << " users, " << n << " shards";
      const auto [lo, hi] = std::minmax_element(sizes.begin(), sizes.end());
      EXPECT_LE(*hi - *lo, 1) << users << " users, " << n << " shards";
      std::int64_t total = 0;
      for (auto x : sizes) total += x;
      EXPECT_EQ(total, users);
      // The same spans whoever computes them.
      for (int i = 0; i < n; ++i) {
        const UserIdSpan again = shard_users(ids, {i, n});
        EXPECT_EQ(again.first, spans[static_cast<std::size_t>(i)].first);
        EXPECT_EQ(again.last, spans[static_cast<std::size_t>(i)].last);
      }
    }
  }
}

// The range read gives exactly the full read's rows of those users.
TEST(ShardRatingsRead, UserRangeEqualsFilteredFullRead) {
  TempDir dir;
  const auto config = test::make_dataset(dir, 300, 200, 6000);
  ASSERT_EQ(run_pipeline("import -q --config " + quoted(config)).exit_code, 0);
  auto db = db::open_read_only(dir / "recs.db");
  auto ratings = db::sqlite_ratings(*db);
  db::RatingsRequest all;
  all.rating = true;
  const db::StoredRatings full = ratings->read(all);
  for (bool parallel : {true, false}) {
    for (auto [lo, hi] : std::vector<std::pair<std::int64_t, std::int64_t>>{
             {1, 1}, {10, 150}, {151, 300}, {-5, 0}, {301, 1000}, {200, 199}, {0, 1000}}) {
      db::RatingsRequest r = all;
      r.parallel = parallel;
      r.first_user = lo;
      r.last_user = hi;
      const db::StoredRatings part = ratings->read(r);
      std::vector<std::int64_t> want_users;
      std::vector<std::int64_t> want_movie;
      std::vector<double> want_rating;
      for (std::size_t i = 0; i < full.size(); ++i) {
        const std::int64_t u = full.user_id(i);
        if (u < lo || u > hi) continue;
        if (want_users.empty() || want_users.back() != u) want_users.push_back(u);
        want_movie.push_back(full.movie[i]);
        want_rating.push_back(full.rating[i]);
      }
      EXPECT_EQ(part.user_ids, want_users) << lo << ".." << hi << " parallel " << parallel;
      EXPECT_EQ(part.movie, want_movie) << lo << ".." << hi;
      EXPECT_EQ(part.rating, want_rating) << lo << ".." << hi;
      for (std::size_t i = 0; i < part.size(); ++i) {
        ASSERT_GE(part.user_id(i), lo);
        ASSERT_LE(part.user_id(i), hi);
      }
    }
  }
  // The census counts every rating once.
  const auto census = ratings->census();
  std::int64_t counted = 0;
  for (const auto& [value, n] : census.counts) counted += n;
  EXPECT_EQ(counted, static_cast<std::int64_t>(full.size()));
  EXPECT_EQ(census.users, static_cast<std::int64_t>(full.user_ids.size()));
}

// The parts of "popular in your cluster", summed, rank as all users at once.
TEST(ShardClusterCounts, MergedPartsEqualOneProcess) {
  std::mt19937_64 rng(11);
  const int users = 500, movies = 60, clusters = 7;
  std::vector<std::int64_t> movie_ids;
  for (int m = 0; m < movies; ++m) movie_ids.push_back(10 + 3 * m);
  std::vector<std::int32_t> cluster(users);
  UserItems rated;
  rated.indptr.push_back(0);
  std::vector<float> rating;
  for (int u = 0; u < users; ++u) {
    cluster[static_cast<std::size_t>(u)] = static_cast<std::int32_t>(rng() % clusters);
    std::set<int> seen;
    for (int k = 0; k < 12; ++k) seen.insert(static_cast<int>(rng() % movies));
    for (int m : seen) {
      rated.indices.push_back(m);
      rating.push_back(static_cast<float>(1 + rng() % 10) / 2.0f);
    }
    rated.indptr.push_back(static_cast<std::int64_t>(rated.indices.size()));
  }
  std::vector<std::int32_t> candidates;
  for (int m = 0; m < movies; ++m) {
    if (m % 5 != 0) candidates.push_back(m);
  }
  const auto one = popular_in_clusters(cluster, clusters, rated, rating, candidates, movie_ids, 9);
  // Three parts of the users, in reverse order.
  std::vector<ClusterMovieCount> parts;
  for (int part = 2; part >= 0; --part) {
    const int begin = part * users / 3, end = (part + 1) * users / 3;
    std::vector<std::int32_t> c(cluster.begin() + begin, cluster.begin() + end);
    UserItems r;
    r.indptr.push_back(0);
    std::vector<float> v;
    for (int u = begin; u < end; ++u) {
      for (auto e = rated.indptr[static_cast<std::size_t>(u)];
           e < rated.indptr[static_cast<std::size_t>(u) + 1]; ++e) {
        r.indices.push_back(rated.indices[static_cast<std::size_t>(e)]);
        v.push_back(rating[static_cast<std::size_t>(e)]);
      }
      r.indptr.push_back(static_cast<std::int64_t>(r.indices.size()));
    }
    auto counts = cluster_movie_counts(c, clusters, r, v, candidates, movie_ids);
    parts.insert(parts.end(), counts.begin(), counts.end());
  }
  const auto merged = rank_cluster_counts(merge_cluster_counts(parts), 9);
  ASSERT_EQ(merged.size(), one.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(merged[i].cluster, one[i].cluster) << i;
    EXPECT_EQ(merged[i].rank, one[i].rank) << i;
    EXPECT_EQ(merged[i].movie_id, one[i].movie_id) << i;
    EXPECT_EQ(merged[i].rating_count, one[i].rating_count) << i;
    EXPECT_EQ(merged[i].mean_rating, one[i].mean_rating) << i;
  }
}

TEST(ShardClusterCounts, AssignToCentroidsAsKMeansAssigns) {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g;
  RowMatrix points(300, 8);
  for (Eigen::Index i = 0; i < points.size(); ++i) points.data()[i] = g(rng);
  KMeansOptions o;
  o.k = 6;
  o.threads = 2;
  const KMeansResult km = kmeans(points, o);
  const KMeansResult again = assign_to_centroids(points, km.centroids, 1);
  EXPECT_EQ(again.assignment, km.assignment);
  for (std::size_t i = 0; i < km.distance.size(); ++i)
    EXPECT_FLOAT_EQ(again.distance[i], km.distance[i]);
  // Fewer points than centroids, and none.
  EXPECT_EQ(assign_to_centroids(points.topRows(2), km.centroids).assignment.size(), 2u);
  EXPECT_TRUE(assign_to_centroids(points.topRows(0), km.centroids).assignment.empty());
}

// A ShardWriter that keeps what it is given.
struct Staged {
  struct Row {
    std::int64_t movie;
    float score;
    std::int64_t because;
  };
  std::map<std::int64_t, std::vector<Row>> lists;
  ClusterRows users;
  std::vector<ClusterMovieCount> counts;
  bool committed = false;
};

class MemoryWriter final : public db::ShardWriter {
 public:
  explicit MemoryWriter(Staged& out) : out_(out) {}
  bool add(const TopNBlock& b, const std::vector<std::int64_t>& user_ids,
           const std::vector<std::int64_t>& movie_ids,
           std::span<const std::int64_t> because) override {
    for (int u = b.user_begin; u < b.user_end; ++u) {
      const auto i = static_cast<std::size_t>(u - b.user_begin);
      if (b.counts[i] == 0) continue;
      auto& list = out_.lists[user_ids[static_cast<std::size_t>(u)]];
      EXPECT_TRUE(list.empty());
      for (int k = 0; k < b.counts[i]; ++k) {
        const std::size_t at = i * static_cast<std::size_t>(b.top_n) + static_cast<std::size_t>(k);
        list.push_back({movie_ids[static_cast<std::size_t>(b.items[at])], b.scores[at],
                        because.empty() ? 0 : because[at]});
        ++rows_;
      }
      users_ += b.counts[i] > 0;
    }
    return true;
  }
  void add_user_clusters(const ClusterRows& users) override { out_.users = users; }
  void add_cluster_counts(const std::vector<ClusterMovieCount>& counts) override {
    out_.counts = counts;
  }
  void commit() override { out_.committed = true; }
  std::int64_t rows() const override { return rows_; }
  std::int64_t users() const override { return users_; }

 private:
  Staged& out_;
  std::int64_t rows_ = 0, users_ = 0;
};

// user -> rank-ordered (movie, score, because) from the SQLite run.
std::map<std::int64_t, std::vector<Staged::Row>> sqlite_lists(const std::filesystem::path& db) {
  std::map<std::int64_t, std::vector<Staged::Row>> out;
  std::istringstream in(test::sqlite_readonly(
      db,
      "SELECT user_id, movie_id, printf('%.9g', score), coalesce(because_movie_id, 0) "
      "FROM recommendations ORDER BY user_id, rank"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string a, b, c, d;
    std::getline(f, a, '|');
    std::getline(f, b, '|');
    std::getline(f, c, '|');
    std::getline(f, d, '|');
    out[std::stoll(a)].push_back({std::stoll(b), std::stof(c), std::stoll(d)});
  }
  return out;
}

void expect_same_lists(const std::map<std::int64_t, std::vector<Staged::Row>>& want,
                       const std::map<std::int64_t, std::vector<Staged::Row>>& got,
                       const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (const auto& [user, list] : want) {
    auto it = got.find(user);
    ASSERT_NE(it, got.end()) << what << ": user " << user;
    ASSERT_EQ(it->second.size(), list.size()) << what << ": user " << user;
    for (std::size_t k = 0; k < list.size(); ++k) {
      EXPECT_EQ(it->second[k].movie, list[k].movie)
          << what << ": user " << user << " rank " << k + 1;
      EXPECT_NEAR(it->second[k].score, list[k].score, 1e-5) << what << ": user " << user;
      EXPECT_EQ(it->second[k].because, list[k].because) << what << ": user " << user;
    }
  }
}

// Every shard scores what the one process scores for its users: for N = 1,
// 2 and 4 the union of the shards' lists equals the SQLite run's, movie
// for movie at every rank, scores within 1e-5, the same explanations;
// every user in exactly one shard; users folded in after training too
// (against every stored rating, as the one process solves them).
TEST(ShardScore, ShardsTogetherEqualOneProcess) {
  TempDir dir;
  const auto config_path = test::make_dataset(
      dir, 400, 300, 12000,
      "model: {type: als, factors: 16, epochs: 4}\nclusters: {users: 5, movies: 4}\n");
  ASSERT_EQ(run_pipeline("import -q --config " + quoted(config_path)).exit_code, 0);
  ASSERT_EQ(run_pipeline("train -q --config " + quoted(config_path)).exit_code, 0);
  // Users who rated after training, folded in by the score stage.
  test::sqlite(dir / "recs.db",
               "INSERT INTO ratings SELECT user_id + 1000, movie_id, rating, rated_at "
               "FROM ratings WHERE user_id <= 30");
  auto r = run_pipeline("score -q --config " + quoted(config_path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto want = sqlite_lists(dir / "recs.db");
  ASSERT_GT(want.size(), 400u);  // some folded-in users have lists

  const Config config = load_config(config_path, {});
  auto db = db::open_read_only(dir / "recs.db");
  for (int n : {1, 2, 4}) {
    std::map<std::int64_t, std::vector<Staged::Row>> got;
    std::set<std::int64_t> clustered;
    std::vector<ClusterMovieCount> counts;
    for (int i = 0; i < n; ++i) {
      Staged staged;
      const ShardScoreSummary s = run_score_shard(*db, config, {i, n}, [&](const db::StoredModel&) {
        return std::make_unique<MemoryWriter>(staged);
      });
      EXPECT_TRUE(staged.committed);
      EXPECT_EQ(s.rows, [&] {
        std::int64_t rows = 0;
        for (const auto& [u, l] : staged.lists) rows += static_cast<std::int64_t>(l.size());
        return rows;
      }());
      for (auto& [user, list] : staged.lists) {
        EXPECT_TRUE(s.span.contains(user));
        EXPECT_TRUE(got.emplace(user, list).second) << "user " << user << " in two shards";
      }
      for (std::int64_t u : staged.users.ids) {
        EXPECT_TRUE(s.span.contains(u));
        EXPECT_TRUE(clustered.insert(u).second);
      }
      counts.insert(counts.end(), staged.counts.begin(), staged.counts.end());
      if (n == 4) {
        EXPECT_GT(staged.lists.size(), 50u) << "shard " << i;
      }
    }
    expect_same_lists(want, got, std::to_string(n) + " shards");
    // Every user with a list has a cluster.
    for (const auto& [u, l] : got) EXPECT_TRUE(clustered.count(u)) << u;
    // Cluster counts: one row per (cluster, movie) after merging, counts
    // adding up to the candidate ratings of the clustered users.
    const auto merged = merge_cluster_counts(counts);
    std::int64_t total = 0;
    for (const auto& c : merged) total += c.rating_count;
    EXPECT_GT(total, 0);
  }
}

// Sharding needs the serving database; a bad shard is a bad command line.
TEST(ShardCli, ExitCodes) {
  TempDir dir;
  const auto config = test::make_dataset(dir, 50, 40, 600);
  const std::string c = " --config " + quoted(config);
  for (const char* bad : {"--shard 2/2", "--shard x", "--shard 1/0", "--shard -1/2",
                          "--shard 0/2 --shards 2", "--shards 2", "--shards 0"}) {
    const auto r = run_pipeline(std::string("score") + c + " " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
  }
  auto r = run_pipeline("score" + c + " --shard 0/2");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(test::last_log_line(r.err).message.find("serve.postgres"), std::string::npos) << r.err;
  r = test::run_command("SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_COUNT=2 " +
                        quoted(test::pipeline_binary()) + " score" + c);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  r = test::run_command("SLURM_ARRAY_TASK_ID=6 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_COUNT=2 " +
                        quoted(test::pipeline_binary()) + " score" + c);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("SLURM_ARRAY_TASK_ID"), std::string::npos) << r.err;
  r = test::run_command("JOB_COMPLETION_INDEX=1 " + quoted(test::pipeline_binary()) + " score" + c +
                        " --shards 2");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  r = test::run_command("JOB_COMPLETION_INDEX=2 " + quoted(test::pipeline_binary()) + " score" + c +
                        " --shards 2");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_pipeline("publish" + c);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(test::last_log_line(r.err).message.find("serve.postgres"), std::string::npos) << r.err;
  // Nothing was written: no database was even created.
  EXPECT_FALSE(std::filesystem::exists(dir / "recs.db"));
}

}  // namespace
}  // namespace recs
