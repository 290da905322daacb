// End to end through the binary and the sqlite3 client: what the nightly job
// publishes beside the top-N (similar movies, clusters), fold-in of users
// who rated after training, business filters and approximate scoring.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace recs::test {
namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string query_file(const std::filesystem::path& db, const std::string& file,
                       const std::string& params, bool explain = false) {
  std::string sql = read_file(source_dir() / "sql" / file);
  return sqlite(db, params + (explain ? "EXPLAIN QUERY PLAN " : "") + sql);
}

long long count(const std::filesystem::path& db, const std::string& sql) {
  return std::stoll(sqlite(db, sql));
}

// 200 users x 300 movies from the generator, trained with the tutorial's dot
// model (fast) unless `extra` says otherwise.
struct Nightly {
  TempDir dir;
  std::filesystem::path config;
  std::filesystem::path db() const { return dir / "recs.db"; }
  explicit Nightly(const std::string& extra = "") {
    config = make_dataset(dir, 200, 300, 8000,
                          "model:\n  factors: 8\n  epochs: 5\n  learning_rate: 0.01\n" + extra);
  }
  CommandResult run(const std::string& args = "") {
    return run_pipeline("run --config " + quoted(config) + " " + args);
  }
};

TEST(ExtrasE2E, SimilarMoviesAndClustersArePublishedWithTheRun) {
  Nightly s("similar:\n  top_k: 7\nclusters:\n  users: 4\n  movies: 5\n");
  auto r = s.run();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto db = s.db();
  const long long movies = count(db, "SELECT count(DISTINCT movie_id) FROM ratings");
  // Top-7 for every rated movie, never the movie itself, ranks 1..7.
  EXPECT_EQ(count(db, "SELECT count(*) FROM similar_movies"), movies * 7);
  EXPECT_EQ(count(db, "SELECT count(*) FROM similar_movies WHERE similar_movie_id = movie_id"), 0);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM (SELECT movie_id FROM similar_movies GROUP BY movie_id "
                  "HAVING min(rank) = 1 AND max(rank) = 7 AND count(*) = 7)"),
            movies);
  EXPECT_EQ(
      count(db, "SELECT count(*) FROM similar_movies WHERE score > 1.0001 OR score < -1.0001"), 0);
  // Scores descend with rank.
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM similar_movies a JOIN similar_movies b ON "
                  "a.movie_id = b.movie_id AND b.rank = a.rank + 1 WHERE b.score > a.score"),
            0);
  // Clusters: every user and movie in exactly one of k.
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_clusters"),
            count(db, "SELECT count(DISTINCT user_id) FROM ratings"));
  EXPECT_EQ(count(db, "SELECT count(DISTINCT cluster) FROM user_clusters"), 4);
  EXPECT_EQ(count(db, "SELECT count(*) FROM movie_clusters"), movies);
  EXPECT_EQ(count(db, "SELECT max(cluster) FROM movie_clusters"), 4);
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_clusters WHERE distance < 0"), 0);
  EXPECT_EQ(sqlite(db, "SELECT similar_k, user_clusters, movie_clusters FROM publication"),
            "7|4|5\n");

  // The web app's queries, with bound parameters, use index searches.
  std::string movie = sqlite(db, "SELECT min(movie_id) FROM ratings");
  movie.pop_back();
  std::string because = query_file(db, "because_you_watched.sql",
                                   ".param set :movie_id " + movie + "\n.param set :limit 5\n");
  auto rows = lines(because);
  ASSERT_EQ(rows.size(), 5u) << because;
  EXPECT_EQ(rows[0].rfind("1|", 0), 0u);
  EXPECT_EQ(because.find("|" + movie + "|"), std::string::npos);  // never the movie itself
  std::string plan = query_file(db, "because_you_watched.sql",
                                ".param set :movie_id 9\n.param set :limit 5\n", true);
  EXPECT_NE(plan.find("SEARCH s USING PRIMARY KEY"), std::string::npos) << plan;

  std::string user = sqlite(db, "SELECT min(user_id) FROM ratings");
  user.pop_back();
  std::string popular = query_file(db, "popular_in_cluster.sql",
                                   ".param set :user_id " + user + "\n.param set :limit 10\n");
  auto prow = lines(popular);
  ASSERT_FALSE(prow.empty());
  for (const auto& l : prow) {
    std::string movie = l.substr(l.find('|') + 1);
    movie = movie.substr(0, movie.find('|'));
    EXPECT_EQ(count(db, "SELECT count(*) FROM ratings WHERE user_id = " + user +
                            " AND movie_id = " + movie),
              0)
        << "recommended a rated movie: " << l;
  }
  // Ranks run 1..N over what is returned (the rated movies left out leave no
  // gaps), and a page continues them.
  for (std::size_t i = 0; i < prow.size(); ++i) {
    EXPECT_EQ(prow[i].substr(0, prow[i].find('|')), std::to_string(i + 1)) << popular;
  }
  ASSERT_EQ(prow.size(), 10u) << popular;
  auto page = lines(
      query_file(db, "popular_in_cluster.sql",
                 ".param set :user_id " + user + "\n.param set :limit 5\n.param set :offset 5\n"));
  EXPECT_EQ(page, std::vector<std::string>(prow.begin() + 5, prow.end()));
  auto because_page = lines(query_file(
      db, "because_you_watched.sql",
      ".param set :movie_id " + movie + "\n.param set :limit 3\n.param set :offset 2\n"));
  ASSERT_EQ(because_page.size(), 3u);
  EXPECT_EQ(because_page[0], rows[2]);
  EXPECT_EQ(because_page[0].rfind("3|", 0), 0u);

  std::string pplan = query_file(db, "popular_in_cluster.sql",
                                 ".param set :user_id 1\n.param set :limit 10\n", true);
  EXPECT_EQ(pplan.find("SCAN p"), std::string::npos) << pplan;
  EXPECT_EQ(pplan.find("SCAN c"), std::string::npos) << pplan;
}

TEST(ExtrasE2E, SwitchedOffTheyAreLeftEmptyNotStale) {
  Nightly s;
  ASSERT_EQ(s.run().exit_code, 0);
  ASSERT_GT(count(s.db(), "SELECT count(*) FROM similar_movies"), 0);
  auto r = s.run("--set similar.enabled=false --set clusters.enabled=false");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(s.db(), "SELECT count(*) FROM similar_movies"), 0);
  EXPECT_EQ(count(s.db(), "SELECT count(*) FROM user_clusters"), 0);
  EXPECT_EQ(count(s.db(), "SELECT count(*) FROM cluster_popular"), 0);
  EXPECT_EQ(sqlite(s.db(), "SELECT similar_k IS NULL, user_clusters IS NULL FROM publication"),
            "1|1\n");
  EXPECT_GT(count(s.db(), "SELECT count(*) FROM recommendations"), 0);
}

TEST(ExtrasE2E, UsersWhoRateAfterTrainingAreFoldedInWithoutRetraining) {
  Nightly s("score:\n  top_n: 10\n");
  ASSERT_EQ(s.run().exit_code, 0);
  const auto db = s.db();
  const long long models = count(db, "SELECT count(*) FROM models");
  // A new user (id above every generated one) rates five movies.
  const auto ratings = s.dir / "data" / "ratings.csv";
  std::string csv = read_file(ratings);
  std::string movies = sqlite(db,
                              "SELECT movie_id FROM ratings GROUP BY movie_id ORDER BY "
                              "count(*) DESC LIMIT 5");
  std::vector<std::string> rated = lines(movies);
  for (const auto& m : rated) csv += "999999," + m + ",5.0,1700000000\n";
  write_file(ratings, csv);
  auto imp = run_pipeline("import --config " + quoted(s.config));
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations WHERE user_id = 999999"), 0);

  auto sc = run_pipeline("score --config " + quoted(s.config));
  ASSERT_EQ(sc.exit_code, 0) << sc.err;
  EXPECT_NE(sc.err.find("folded in 1 user"), std::string::npos) << sc.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM models"), models);  // no retraining
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations WHERE user_id = 999999"), 10);
  for (const auto& m : rated) {
    EXPECT_EQ(count(db,
                    "SELECT count(*) FROM recommendations WHERE user_id = 999999 AND "
                    "movie_id = " +
                        m),
              0);
  }
  EXPECT_EQ(count(db,
                  "SELECT json_extract(counts, '$.users_folded_in') FROM runs WHERE command "
                  "= 'score' ORDER BY run_id DESC LIMIT 1"),
            1);
  // The new user has a cluster too.
  EXPECT_EQ(count(db, "SELECT count(*) FROM user_clusters WHERE user_id = 999999"), 1);
  auto login =
      lines(query_file(db, "login.sql", ".param set :user_id 999999\n.param set :limit 10\n"));
  ASSERT_EQ(login.size(), 10u);
  for (const auto& l : login) EXPECT_NE(l.find("|personal|"), std::string::npos) << l;
  // Switched off, the new user is left to the fallback: login.sql serves the
  // most popular movies the user has not rated, ranked 1..10.
  sc = run_pipeline("score --config " + quoted(s.config) + " --set score.fold_in=false");
  ASSERT_EQ(sc.exit_code, 0) << sc.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations WHERE user_id = 999999"), 0);
  login = lines(query_file(db, "login.sql", ".param set :user_id 999999\n.param set :limit 10\n"));
  ASSERT_EQ(login.size(), 10u);
  std::vector<std::string> popular =
      lines(sqlite(db,
                   "SELECT movie_id FROM movie_stats WHERE movie_id NOT IN (SELECT movie_id "
                   "FROM ratings WHERE user_id = 999999) ORDER BY popularity_rank LIMIT 10"));
  for (std::size_t i = 0; i < login.size(); ++i) {
    const std::string& l = login[i];
    EXPECT_EQ(l.substr(0, l.find('|')), std::to_string(i + 1)) << l;
    EXPECT_TRUE(l.ends_with("|popular||")) << l;
    const auto a = l.find('|');
    const std::string movie = l.substr(a + 1, l.find('|', a + 1) - a - 1);
    EXPECT_EQ(movie, popular[i]) << l;
    EXPECT_EQ(std::count(rated.begin(), rated.end(), movie), 0) << "fallback gave a rated movie";
  }
}

TEST(ExtrasE2E, BusinessFiltersApplyBeforeSelection) {
  Nightly s("score:\n  top_n: 10\n");
  ASSERT_EQ(s.run().exit_code, 0);
  const auto db = s.db();
  // The movie most often recommended, and a genre that is common.
  std::string top = sqlite(db,
                           "SELECT movie_id FROM recommendations GROUP BY movie_id ORDER BY "
                           "count(*) DESC, movie_id LIMIT 1");
  top.pop_back();
  auto r = s.run("--set score.exclude_movies=[" + top + "] --set score.exclude_genres=[Drama]");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations WHERE movie_id = " + top), 0);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM recommendations r JOIN movies m USING (movie_id) "
                  "WHERE '|' || m.genres || '|' LIKE '%|Drama|%'"),
            0);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM similar_movies s JOIN movies m ON m.movie_id = "
                  "s.similar_movie_id WHERE '|' || m.genres || '|' LIKE '%|Drama|%'"),
            0);
  // Every user still gets 10: plenty of movies remain.
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM (SELECT user_id FROM recommendations GROUP BY "
                  "user_id HAVING count(*) <> 10)"),
            0);
  // Only a user who rated (nearly) every movie can be left without any.
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM (SELECT user_id FROM ratings WHERE user_id NOT IN "
                  "(SELECT user_id FROM recommendations) GROUP BY user_id HAVING count(*) < "
                  "290)"),
            0);

  // An allow-list of 12 movies: each user gets those of them not rated, up
  // to 10.
  std::string allow = sqlite(db,
                             "SELECT group_concat(movie_id) FROM (SELECT movie_id FROM "
                             "movies ORDER BY movie_id LIMIT 12)");
  allow.pop_back();
  r = s.run("--set score.allow_movies=[" + allow + "]");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations WHERE movie_id NOT IN (" + allow + ")"),
            0);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM (SELECT u.user_id, (SELECT count(*) FROM "
                  "recommendations r WHERE r.user_id = u.user_id) AS got, min(10, 12 - "
                  "(SELECT count(*) FROM ratings x WHERE x.user_id = u.user_id AND x.movie_id "
                  "IN (" +
                      allow +
                      "))) AS want FROM (SELECT DISTINCT user_id FROM ratings) "
                      "u) WHERE got <> want"),
            0);
}

TEST(ExtrasE2E, MoviesAnImportRemovedAreNeverPublished) {
  // The model was trained with every movie; a later import drops the three
  // most recommended from the catalog and their ratings, and `score` (no
  // retraining) must not publish them anywhere the web app reads.
  Nightly s("score:\n  top_n: 20\n");
  ASSERT_EQ(s.run().exit_code, 0);
  const auto db = s.db();
  const std::vector<std::string> gone = lines(sqlite(
      db, "SELECT movie_id FROM recommendations GROUP BY movie_id ORDER BY count(*) DESC LIMIT 3"));
  ASSERT_EQ(gone.size(), 3u);
  const std::string in = "(" + gone[0] + "," + gone[1] + "," + gone[2] + ")";
  ASSERT_GT(count(db, "SELECT count(*) FROM similar_movies WHERE similar_movie_id IN " + in), 0);
  auto drop = [&](const std::filesystem::path& file, int column) {
    std::string out;
    for (const std::string& l : lines(read_file(file))) {
      std::string id = l;
      for (int c = 0; c < column; ++c) id = id.substr(id.find(',') + 1);
      id = id.substr(0, id.find(','));
      if (std::count(gone.begin(), gone.end(), id) == 0) out += l + "\n";
    }
    write_file(file, out);
  };
  drop(s.dir / "data" / "ratings.csv", 1);
  drop(s.dir / "data" / "movies.csv", 0);
  auto imp = run_pipeline("import --config " + quoted(s.config));
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  const long long models = count(db, "SELECT count(*) FROM models");

  auto sc = run_pipeline("score --config " + quoted(s.config));
  ASSERT_EQ(sc.exit_code, 0) << sc.err;
  EXPECT_NE(sc.err.find("3 movie(s) of model"), std::string::npos) << sc.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM models"), models);
  for (const char* where :
       {"recommendations WHERE movie_id IN ", "similar_movies WHERE similar_movie_id IN ",
        "similar_movies WHERE movie_id IN ", "movie_clusters WHERE movie_id IN ",
        "cluster_popular WHERE movie_id IN "}) {
    EXPECT_EQ(count(db, std::string("SELECT count(*) FROM ") + where + in), 0) << where;
  }
  // Every published movie has its catalog row, and the lists are still full.
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM recommendations WHERE movie_id NOT IN (SELECT movie_id "
                  "FROM movies)"),
            0);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM (SELECT user_id FROM recommendations GROUP BY user_id "
                  "HAVING count(*) <> 20)"),
            0);
  // publish of the kept model does the same.
  auto pub = run_pipeline("publish --config " + quoted(s.config) + " --model latest");
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations WHERE movie_id IN " + in), 0);
}

// Users an import removed (every rating of theirs gone from the export) get
// no rows from a model trained before, whatever its type: `dot` scores
// every trained user, so it would publish lists for them; `als` leaves out
// users without a positive rating too (here one whose ratings all fell to
// 0.5), and the warning still counts the removed ones.
void users_an_import_removed_get_no_rows(bool als) {
  Nightly s("score:\n  top_n: 20\n");
  if (als) {
    write_file(s.config,
               "database: recs.db\nimport:\n  ratings: data/ratings.csv\n  movies: "
               "data/movies.csv\nmodel:\n  type: als\n  factors: 8\nscore:\n  top_n: 20\n");
  }
  ASSERT_EQ(s.run().exit_code, 0);
  const auto db = s.db();
  const std::vector<std::string> gone =
      lines(sqlite(db, "SELECT user_id FROM recommendations GROUP BY user_id LIMIT 3"));
  ASSERT_EQ(gone.size(), 3u);
  // The first two leave the export; the third stays, every rating now 0.5.
  std::string out;
  for (const std::string& l : lines(read_file(s.dir / "data" / "ratings.csv"))) {
    const std::string user = l.substr(0, l.find(','));
    if (user == gone[2]) {
      const auto third = l.find(',', user.size() + 1);
      out += l.substr(0, third) + ",0.5" + l.substr(l.find(',', third + 1)) + "\n";
    } else if (user != gone[0] && user != gone[1]) {
      out += l + "\n";
    }
  }
  write_file(s.dir / "data" / "ratings.csv", out);
  ASSERT_EQ(run_pipeline("import -q --config " + quoted(s.config)).exit_code, 0);
  const std::string in = "(" + gone[0] + "," + gone[1] + ")";
  for (const char* command : {"score", "publish --model latest"}) {
    auto r = run_pipeline(std::string(command) + " --config " + quoted(s.config));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("2 user(s) of model 1 have no rating left"), std::string::npos) << r.err;
    if (als) {
      EXPECT_NE(r.err.find("(1 without a positive rating"), std::string::npos) << r.err;
    }
    EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations WHERE user_id IN " + in), 0);
    EXPECT_EQ(count(db, "SELECT count(*) FROM user_clusters WHERE user_id IN " + in), 0);
    EXPECT_EQ(count(db,
                    "SELECT count(*) FROM recommendations WHERE user_id NOT IN (SELECT user_id "
                    "FROM ratings)"),
              0);
  }
}

TEST(ExtrasE2E, UsersAnImportRemovedGetNoRows) {
  users_an_import_removed_get_no_rows(false);  // the default type, dot
}

TEST(ExtrasE2E, UsersAnImportRemovedGetNoRowsAndAreCountedBesideThoseWithoutSignal) {
  users_an_import_removed_get_no_rows(true);
}

// An import that removes users (every rating gone) and movies (gone from
// the catalog and the ratings) takes them out of the live set and the kept
// ones in its own transaction: between the import and the next publish, and
// after a rollback, the web app reads no row of theirs, and every list it
// reads still runs from rank 1 without a gap.
// `most`: the two movies removed are the most recommended ones (most lists
// lose a row, and the table is written again), else the least recommended
// (a few lists lose a row and only they are rewritten).
void removed_users_and_movies_leave_every_set(bool most) {
  Nightly s("score:\n  top_n: 20\n");
  ASSERT_EQ(s.run().exit_code, 0);
  ASSERT_EQ(s.run().exit_code, 0);  // the first set is kept
  const auto db = s.db();
  ASSERT_EQ(count(db, "SELECT count(*) FROM kept_sets"), 1);
  const std::vector<std::string> users =
      lines(sqlite(db, "SELECT user_id FROM recommendations GROUP BY user_id LIMIT 2"));
  const std::vector<std::string> movies = lines(sqlite(
      db, std::string("SELECT movie_id FROM recommendations_kept1 GROUP BY movie_id ORDER BY "
                      "count(*) ") +
              (most ? "DESC" : "ASC") + ", movie_id LIMIT 2"));
  ASSERT_EQ(users.size(), 2u);
  ASSERT_EQ(movies.size(), 2u);
  auto drop = [&](const std::filesystem::path& file, bool ratings) {
    std::string out;
    for (const std::string& l : lines(read_file(file))) {
      const std::string first = l.substr(0, l.find(','));
      const std::string second =
          l.substr(first.size() + 1, l.find(',', first.size() + 1) - first.size() - 1);
      const std::string& movie = ratings ? second : first;
      const bool gone = std::count(movies.begin(), movies.end(), movie) > 0 ||
                        (ratings && std::count(users.begin(), users.end(), first) > 0);
      if (!gone) out += l + "\n";
    }
    write_file(file, out);
  };
  drop(s.dir / "data" / "ratings.csv", true);
  drop(s.dir / "data" / "movies.csv", false);
  const std::string user_in = "(" + users[0] + "," + users[1] + ")";
  const std::string movie_in = "(" + movies[0] + "," + movies[1] + ")";
  ASSERT_GT(count(db, "SELECT count(*) FROM recommendations_kept1 WHERE movie_id IN " + movie_in),
            0);
  // What the web app must not read, and lists that must be whole.
  auto check = [&](const std::string& when) {
    for (const std::string& where : std::vector<std::string>{
             "recommendations WHERE user_id IN " + user_in,
             "recommendations WHERE movie_id IN " + movie_in,
             "recommendations WHERE because_movie_id IN " + movie_in,
             "user_clusters WHERE user_id IN " + user_in,
             "similar_movies WHERE movie_id IN " + movie_in,
             "similar_movies WHERE similar_movie_id IN " + movie_in,
             "movie_clusters WHERE movie_id IN " + movie_in,
             "cluster_popular WHERE movie_id IN " + movie_in,
             "(SELECT user_id FROM recommendations GROUP BY user_id HAVING min(rank) <> 1 OR "
             "max(rank) <> count(*))",
             "(SELECT movie_id FROM similar_movies GROUP BY movie_id HAVING min(rank) <> 1 OR "
             "max(rank) <> count(*))",
             "(SELECT cluster FROM cluster_popular GROUP BY cluster HAVING min(rank) <> 1 OR "
             "max(rank) <> count(*))",
             "publication WHERE row_count <> (SELECT count(*) FROM recommendations) OR "
             "user_count <> (SELECT count(DISTINCT user_id) FROM recommendations)"}) {
      EXPECT_EQ(count(db, "SELECT count(*) FROM " + where), 0) << when << ": " << where;
    }
    EXPECT_GT(count(db, "SELECT count(*) FROM recommendations"), 0) << when;
  };
  // The lists that lost a movie keep the others in their order.
  sqlite(db, "CREATE TABLE before_import AS SELECT user_id, rank, movie_id FROM recommendations");
  const std::string in_order = " WHERE user_id NOT IN " + user_in + " AND movie_id NOT IN " +
                               movie_in + " ORDER BY user_id, rank) GROUP BY user_id";
  auto imp = run_pipeline("-v import --config " + quoted(s.config));
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  // Which of the two ways the live set's lists were renumbered.
  EXPECT_NE(imp.err.find(most ? "lists lose a row: written again without them"
                              : "list(s) lose a row: renumbered in place"),
            std::string::npos)
      << imp.err;
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM (SELECT user_id, group_concat(movie_id) AS l FROM (SELECT "
                  "* FROM before_import" +
                      in_order +
                      ") b LEFT JOIN (SELECT user_id, group_concat(movie_id) AS l FROM "
                      "(SELECT * FROM recommendations" +
                      in_order + ") a USING (user_id) WHERE a.l IS NOT b.l"),
            0);
  EXPECT_NE(imp.err.find("the import removed 2 user(s) (no rating left) and 2 movie(s) (neither "
                         "in the catalog nor rated): took them out of 2 published set(s)"),
            std::string::npos)
      << imp.err;
  check("after the import");
  EXPECT_EQ(sqlite(db,
                   "SELECT json_extract(counts, '$.users_removed'), json_extract(counts, "
                   "'$.movies_removed'), json_extract(counts, '$.served_rows_removed') > 40 FROM "
                   "runs ORDER BY run_id DESC LIMIT 1"),
            "2|2|1\n");
  // The kept set was pruned too: rolled back to, it serves none of them.
  auto back = run_pipeline("rollback --config " + quoted(s.config));
  ASSERT_EQ(back.exit_code, 0) << back.err;
  check("after the rollback");
  // Importing the same files again removes nothing more.
  imp = run_pipeline("import --config " + quoted(s.config));
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_EQ(imp.err.find("the import removed"), std::string::npos) << imp.err;
}

TEST(ExtrasE2E, AnImportTakesRemovedUsersAndMoviesOutOfEveryPublishedSet) {
  removed_users_and_movies_leave_every_set(true);
}

TEST(ExtrasE2E, AnImportTakesRemovedRarelyListedMoviesOutOfEveryPublishedSet) {
  removed_users_and_movies_leave_every_set(false);
}

// A user who removed a rating is not told "because you rated" that movie:
// the import clears those explanations in the live set and the kept one,
// and leaves every other row as it was.
TEST(ExtrasE2E, AnImportClearsTheBecauseOfARatingTheUserRemoved) {
  Nightly s("score:\n  top_n: 20\n");
  ASSERT_EQ(s.run().exit_code, 0);
  ASSERT_EQ(s.run().exit_code, 0);  // the first set is kept
  const auto db = s.db();
  // A (user, movie) that both sets explain rows by.
  const std::vector<std::string> pair =
      lines(sqlite(db,
                   "SELECT a.user_id || ',' || a.because_movie_id FROM recommendations a JOIN "
                   "recommendations_kept1 b ON b.user_id = a.user_id AND b.because_movie_id = "
                   "a.because_movie_id GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"));
  ASSERT_EQ(pair.size(), 1u);
  const std::string user = pair[0].substr(0, pair[0].find(','));
  const std::string movie = pair[0].substr(pair[0].find(',') + 1);
  const std::string named = "user_id = " + user + " AND because_movie_id = " + movie;
  const long long live = count(db, "SELECT count(*) FROM recommendations WHERE " + named);
  const long long kept = count(db, "SELECT count(*) FROM recommendations_kept1 WHERE " + named);
  ASSERT_GT(live, 0);
  ASSERT_GT(kept, 0);
  const std::string others =
      "SELECT count(*), sum(coalesce(because_movie_id, 0)), sum(movie_id * rank) FROM "
      "recommendations WHERE NOT (" +
      named + ")";
  const std::string before = sqlite(db, others);
  std::string out;
  for (const std::string& l : lines(read_file(s.dir / "data" / "ratings.csv"))) {
    if (l.rfind(user + "," + movie + ",", 0) != 0) out += l + "\n";
  }
  write_file(s.dir / "data" / "ratings.csv", out);
  auto imp = run_pipeline("import --config " + quoted(s.config));
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_NE(imp.err.find(std::to_string(live + kept) +
                         " published row(s) (live and kept sets) no longer say \"because you "
                         "rated\" a movie whose rating the import deleted"),
            std::string::npos)
      << imp.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations WHERE " + named), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations_kept1 WHERE " + named), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations WHERE user_id = " + user +
                          " AND because_movie_id IS NULL"),
            live);
  EXPECT_EQ(sqlite(db, others), before);
  EXPECT_EQ(sqlite(db,
                   "SELECT json_extract(counts, '$.because_cleared') FROM runs ORDER BY run_id "
                   "DESC LIMIT 1"),
            std::to_string(live + kept) + "\n");
}

// A database from before imports pruned the published sets (schema version
// 5) still serves users and movies earlier imports removed, in its live set
// and its kept ones. The migration to version 6 takes them out, once.
TEST(ExtrasE2E, TheMigrationTakesWhatEarlierImportsRemovedOutOfEverySet) {
  Nightly s("score:\n  top_n: 20\n");
  ASSERT_EQ(s.run().exit_code, 0);
  ASSERT_EQ(s.run().exit_code, 0);  // the first set is kept
  const auto db = s.db();
  const std::string user =
      lines(sqlite(db, "SELECT user_id FROM recommendations_kept1 ORDER BY user_id LIMIT 1"))[0];
  const std::string movie = lines(sqlite(db,
                                         "SELECT movie_id FROM recommendations GROUP BY movie_id "
                                         "ORDER BY count(*) DESC, movie_id LIMIT 1"))[0];
  // And a rating an import of version 5 deleted that a kept row explains by.
  const std::vector<std::string> because =
      lines(sqlite(db,
                   "SELECT user_id || ' AND because_movie_id = ' || because_movie_id FROM "
                   "recommendations_kept1 WHERE because_movie_id IS NOT NULL AND user_id <> " +
                       user + " AND because_movie_id <> " + movie + " LIMIT 1"));
  ASSERT_EQ(because.size(), 1u);
  const std::string unrated = "user_id = " + because[0];
  sqlite(db, "DELETE FROM ratings WHERE " +
                 std::string(unrated).replace(unrated.find("because_movie_id"), 16, "movie_id"));
  // What an import of schema version 5 left: the ratings, the catalog and
  // the statistics without them, the sets as they were.
  sqlite(db, "DELETE FROM ratings WHERE user_id = " + user + " OR movie_id = " + movie +
                 "; DELETE FROM movies WHERE movie_id = " + movie +
                 "; DELETE FROM movie_stats WHERE movie_id = " + movie +
                 "; DROP TABLE excluded_movies; DROP TABLE excluded_movies_kept1; DROP INDEX "
                 "movie_stats_served_by_rank; ALTER TABLE movie_stats DROP COLUMN excluded; "
                 "PRAGMA user_version = 5;");
  auto stale = [&](const std::string& table, const std::string& where) {
    return count(db, "SELECT count(*) FROM " + table + " WHERE " + where);
  };
  ASSERT_GT(stale("recommendations", "movie_id = " + movie), 0);
  ASSERT_GT(stale("recommendations_kept1", "user_id = " + user), 0);

  auto r = run_pipeline("train --config " + quoted(s.config));  // opens and migrates
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("migration to version 6 took 1 user(s) and 1 movie(s) that earlier "
                       "imports removed out of 2 published set(s)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("\"because\" naming a movie its user no longer rates"), std::string::npos)
      << r.err;
  for (const std::string set : {"", "_kept1"}) {
    const std::string rec = "recommendations" + set;
    EXPECT_EQ(stale(rec, "user_id = " + user + " OR movie_id = " + movie +
                             " OR because_movie_id = " + movie),
              0)
        << set;
    EXPECT_EQ(stale("user_clusters" + set, "user_id = " + user), 0) << set;
    EXPECT_EQ(stale(rec, unrated), 0) << set;
    EXPECT_EQ(
        stale("similar_movies" + set, "movie_id = " + movie + " OR similar_movie_id = " + movie), 0)
        << set;
    EXPECT_EQ(stale("(SELECT user_id FROM " + rec +
                        " GROUP BY user_id HAVING min(rank) <> 1 OR max(rank) <> count(*))",
                    "1"),
              0)
        << set;
  }
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM publication WHERE row_count <> (SELECT count(*) FROM "
                  "recommendations) OR user_count <> (SELECT count(DISTINCT user_id) FROM "
                  "recommendations)"),
            0);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM kept_sets WHERE row_count <> (SELECT count(*) FROM "
                  "recommendations_kept1) OR user_count <> (SELECT count(DISTINCT user_id) FROM "
                  "recommendations_kept1)"),
            0);
  // Once: the next command finds nothing to migrate.
  r = run_pipeline("rollback --config " + quoted(s.config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("migration to version"), std::string::npos) << r.err;
  EXPECT_EQ(stale("recommendations", "user_id = " + user), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM excluded_movies"), 0);
}

// An export cut inside its last row still parses when the cut falls in a
// number or the genres: RFC 4180 allows a last row without a line break, so
// it is imported, with a warning naming the file (and the dry run gives it
// too); a file that ends with one gets none.
TEST(ExtrasE2E, AnExportWithoutAFinalLineBreakIsImportedWithAWarning) {
  Nightly s;
  write_file(s.db(), "");  // an empty file, as `touch` leaves it: no database yet
  auto dry = run_pipeline("import --dry-run --config " + quoted(s.config));
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  auto imp = run_pipeline("import --config " + quoted(s.config));
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_EQ(imp.err.find("line break"), std::string::npos) << imp.err;
  for (const char* name : {"ratings.csv", "movies.csv"}) {
    const std::filesystem::path file = s.dir / "data" / name;
    std::string text = read_file(file);
    ASSERT_EQ(text.back(), '\n');
    text.resize(text.size() - 3);  // into the last row's last field
    write_file(file, text);
  }
  for (const std::string& args : {std::string("import"), std::string("run --dry-run")}) {
    auto r = run_pipeline(args + " --config " + quoted(s.config));
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.err;
    for (const char* name : {"ratings.csv", "movies.csv"}) {
      EXPECT_NE(r.err.find(std::string(name) + ": does not end with a line break, so its last row "
                                               "may have been cut short"),
                std::string::npos)
          << args << ": " << r.err;
    }
  }
}

// An export cut short deletes most of the stored ratings: believed, its
// removals would reach the live set and the kept one a rollback restores.
// The run refuses it and changes nothing; the operator can still roll back,
// and import it on purpose.
TEST(ExtrasE2E, AnExportCutShortIsRefusedAndEveryPublishedSetStaysAsItWas) {
  Nightly s("score:\n  top_n: 20\n");
  ASSERT_EQ(s.run().exit_code, 0);
  ASSERT_EQ(s.run().exit_code, 0);  // the first set is kept
  const auto db = s.db();
  auto state = [&] {
    return sqlite(db,
                  "SELECT count(*), sum(user_id * 7 + rank * 13 + movie_id) FROM recommendations;"
                  "SELECT count(*), sum(user_id * 7 + rank * 13 + movie_id) FROM "
                  "recommendations_kept1; SELECT count(*), sum(user_id * 3 + movie_id) FROM "
                  "ratings; SELECT run_id, user_count FROM publication;");
  };
  const std::string before = state();
  const long long stored = count(db, "SELECT count(*) FROM ratings");
  const std::filesystem::path ratings = s.dir / "data" / "ratings.csv";
  const std::vector<std::string> all = lines(read_file(ratings));
  std::string cut;
  for (std::size_t i = 0; i < all.size() * 7 / 10; ++i) cut += all[i] + "\n";
  write_file(ratings, cut);

  // The dry run says so first, from the same figures.
  const auto dry = s.run("--dry-run --json");
  EXPECT_EQ(dry.exit_code, 4) << dry.err;
  EXPECT_NE(dry.out.find("\"valid\":false"), std::string::npos) << dry.out;
  const long long deleted = stored - static_cast<long long>(all.size() * 7 / 10 - 1);
  EXPECT_NE(dry.out.find("\"ratings_deleted\":" + std::to_string(deleted)), std::string::npos)
      << dry.out;
  EXPECT_NE(dry.err.find("more than import.max_removed_share (0.2) allows"), std::string::npos)
      << dry.err;
  EXPECT_EQ(state(), before);

  const auto refused = s.run();
  EXPECT_EQ(refused.exit_code, 4) << refused.err;
  EXPECT_NE(refused.err.find("would delete " + std::to_string(deleted) + " of the " +
                             std::to_string(stored) + " stored ratings"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("more than import.max_removed_share (0.2) allows"), std::string::npos)
      << refused.err;
  EXPECT_EQ(state(), before);
  EXPECT_EQ(sqlite(db, "SELECT status FROM runs ORDER BY run_id DESC LIMIT 1"), "refused\n");

  // Meant: imported once with the limit lifted, its users leave every set.
  const auto meant =
      run_pipeline("import --config " + quoted(s.config) + " --set import.max_removed_share=1");
  ASSERT_EQ(meant.exit_code, 0) << meant.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM ratings"),
            static_cast<long long>(all.size() * 7 / 10 - 1));
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM (SELECT user_id FROM recommendations UNION SELECT user_id "
                  "FROM recommendations_kept1) WHERE user_id NOT IN (SELECT user_id FROM ratings)"),
            0);
  EXPECT_GT(count(db, "SELECT count(*) FROM recommendations"), 0);
}

// The business filters reach the fallback too: a user without rows (here
// one who never rated) is never shown, by sql/fallback.sql or login.sql's
// popular rows, a movie the published set's filters exclude. The exclusions
// belong to the set: the next publish without filters lifts them, and a
// rollback to the filtered set brings them back.
TEST(ExtrasE2E, TheFallbackLeavesOutWhatTheFiltersExclude) {
  Nightly s;
  const auto db = s.db();
  ASSERT_EQ(s.run().exit_code, 0);
  const std::string top =
      sqlite(db, "SELECT movie_id FROM movie_stats ORDER BY popularity_rank LIMIT 1");
  const std::string most_popular = top.substr(0, top.find('\n'));
  auto r =
      s.run("--set score.exclude_genres=[Drama] --set score.exclude_movies=[" + most_popular + "]");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("known movies out of the lists and of the fallback"), std::string::npos)
      << r.err;
  const std::string excluded_sql =
      "SELECT count(*) FROM (SELECT movie_id FROM movies UNION SELECT movie_id FROM movie_stats) k "
      "LEFT JOIN movies m USING (movie_id) WHERE k.movie_id = " +
      most_popular + " OR '|' || m.genres || '|' LIKE '%|Drama|%'";
  ASSERT_GT(count(db, excluded_sql), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM excluded_movies"), count(db, excluded_sql));
  // The movie ids of a query's rows (second column), and whether any is excluded.
  auto movies_of = [&](const std::string& file, const std::string& source) {
    std::vector<std::string> ids;
    for (const std::string& l :
         lines(query_file(db, file, ".param set :user_id 999999\n.param set :limit 30\n"))) {
      const auto a = l.find('|');
      ids.push_back(l.substr(a + 1, l.find('|', a + 1) - a - 1));
      EXPECT_EQ(l.substr(0, a), std::to_string(ids.size())) << file << ": " << l;
      if (!source.empty()) {
        EXPECT_NE(l.find(source), std::string::npos) << l;
      }
    }
    return ids;
  };
  auto drama_or_top = [&](const std::vector<std::string>& ids) {
    std::string in;
    for (const std::string& id : ids) in += (in.empty() ? "" : ",") + id;
    return count(db, "SELECT count(*) FROM movies WHERE movie_id IN (" + in + ") AND (movie_id = " +
                         most_popular + " OR '|' || genres || '|' LIKE '%|Drama|%')");
  };
  for (const auto& [file, source] :
       {std::pair<std::string, std::string>{"fallback.sql", ""}, {"login.sql", "|popular|"}}) {
    const std::vector<std::string> ids = movies_of(file, source);
    EXPECT_EQ(ids.size(), 30u) << file;
    EXPECT_EQ(drama_or_top(ids), 0) << file;
    // An index walk over the movies not excluded, however many are.
    const std::string plan =
        query_file(db, file, ".param set :user_id 999999\n.param set :limit 30\n", true);
    EXPECT_NE(plan.find("USING INDEX movie_stats_served_by_rank"), std::string::npos) << plan;
  }
  // movie_stats marks exactly what excluded_movies lists, after the
  // publish, the swaps of a rollback, and an import.
  const std::string mismatched =
      "SELECT count(*) FROM movie_stats WHERE excluded <> (movie_id IN (SELECT movie_id FROM "
      "excluded_movies))";
  EXPECT_GT(count(db, "SELECT count(*) FROM movie_stats WHERE excluded = 1"), 0);
  EXPECT_EQ(count(db, mismatched), 0);
  // Published without filters, the fallback shows them again.
  ASSERT_EQ(s.run().exit_code, 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM excluded_movies"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM movie_stats WHERE excluded = 1"), 0);
  std::vector<std::string> ids = movies_of("fallback.sql", "");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], most_popular);
  EXPECT_GT(drama_or_top(ids), 1);
  // Rolled back to the filtered set, its exclusions are back.
  auto back = run_pipeline("rollback --config " + quoted(s.config));
  ASSERT_EQ(back.exit_code, 0) << back.err;
  ids = movies_of("login.sql", "|popular|");
  EXPECT_EQ(ids.size(), 30u);
  EXPECT_EQ(drama_or_top(ids), 0);
  EXPECT_GT(count(db, "SELECT count(*) FROM movie_stats WHERE excluded = 1"), 0);
  EXPECT_EQ(count(db, mismatched), 0);
  // An import rebuilds movie_stats and keeps the marks.
  ASSERT_EQ(run_pipeline("import -q --config " + quoted(s.config)).exit_code, 0);
  EXPECT_GT(count(db, "SELECT count(*) FROM movie_stats WHERE excluded = 1"), 0);
  EXPECT_EQ(count(db, mismatched), 0);
}

// A movie first known in an import after the publish has not been through
// the filters: with an allow-list it would top the fallback (everyone rates
// it) until the next publish. The import keeps it out, as the publish would;
// without filters it shows.
TEST(ExtrasE2E, AMovieNewSinceThePublishStaysOutOfAFilteredFallback) {
  Nightly s;
  const auto db = s.db();
  ASSERT_EQ(s.run("-q").exit_code, 0);
  const std::string allowed = sqlite(db,
                                     "SELECT group_concat(movie_id) FROM (SELECT movie_id FROM "
                                     "movie_stats ORDER BY popularity_rank LIMIT 40)");
  const std::string allow =
      "--set 'score.allow_movies=[" + allowed.substr(0, allowed.size() - 1) + "]'";
  ASSERT_EQ(s.run("-q " + allow).exit_code, 0);
  const long long excluded = count(db, "SELECT count(*) FROM excluded_movies");
  ASSERT_GT(excluded, 0);
  // Movie 900001, new in the catalog, rated 5 by every user: the most popular.
  const std::filesystem::path data = s.dir / "data";
  write_file(data / "movies.csv",
             read_file(data / "movies.csv") + "900001,Brand New (2026),Drama\n");
  std::string ratings = read_file(data / "ratings.csv");
  for (const std::string& u : lines(sqlite(db, "SELECT DISTINCT user_id FROM ratings")))
    ratings += u + ",900001,5.0,1700000000\n";
  write_file(data / "ratings.csv", ratings);
  const auto import = [&](const std::string& args) {
    return run_pipeline("import --config " + quoted(s.config) + " " + args);
  };
  auto r = import(allow);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("1 of the 1 movie(s) new in this import are kept out of the fallback"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM excluded_movies WHERE movie_id = 900001"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM excluded_movies"), excluded + 1);
  EXPECT_EQ(count(db,
                  "SELECT json_extract(counts, '$.movies_excluded_from_fallback') FROM runs "
                  "ORDER BY run_id DESC LIMIT 1"),
            1);
  EXPECT_EQ(count(db, "SELECT popularity_rank FROM movie_stats WHERE movie_id = 900001"), 1);
  const std::string fallback =
      query_file(db, "fallback.sql", ".param set :user_id 999999\n.param set :limit 5\n");
  EXPECT_EQ(fallback.find("900001"), std::string::npos) << fallback;
  EXPECT_EQ(lines(fallback).size(), 5u) << fallback;
  // A second import knows the movie already: nothing more to add.
  r = import(allow);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("new in this import"), std::string::npos) << r.err;
  EXPECT_EQ(count(db, "SELECT count(*) FROM excluded_movies"), excluded + 1);
}

TEST(ExtrasE2E, FiltersThatLeaveNothingAreRefusedAndKeepTheLiveSet) {
  Nightly s;
  ASSERT_EQ(s.run().exit_code, 0);
  const std::string before = sqlite(s.db(), "SELECT count(*), sum(score) FROM recommendations");
  auto r =
      run_pipeline("score --config " + quoted(s.config) + " --set score.allow_movies=[999999999]");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("score.allow_movies"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing published"), std::string::npos) << r.err;
  EXPECT_EQ(sqlite(s.db(), "SELECT count(*), sum(score) FROM recommendations"), before);
  // Every genre excluded: the message names that key, not another.
  const std::string genres = sqlite(
      s.db(),
      "WITH RECURSIVE split(g, rest) AS (SELECT '', genres || '|' FROM movies UNION ALL SELECT "
      "substr(rest, 1, instr(rest, '|') - 1), substr(rest, instr(rest, '|') + 1) FROM split "
      "WHERE rest <> '') SELECT group_concat(DISTINCT '\"' || g || '\"') FROM split WHERE g <> ''");
  r = run_pipeline("score --config " + quoted(s.config) + " --set 'score.exclude_genres=[" +
                   genres + "]'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(last_log_line(r.err).message.find("score.exclude_genres: the business filters"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(sqlite(s.db(), "SELECT count(*), sum(score) FROM recommendations"), before);
  // A genre no movie has excludes nothing, and says so (matching is exact).
  r = run_pipeline("score --config " + quoted(s.config) +
                   " --set 'score.exclude_genres=[horror, Nosuchgenre]'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no catalog movie has the genre 'horror'; it excludes nothing (genres are "
                       "case-sensitive: did you mean 'Horror'?)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("no catalog movie has the genre 'Nosuchgenre'; it excludes nothing\n"),
            std::string::npos)
      << r.err;
}

TEST(ExtrasE2E, AnnScoringAgreesWithExact) {
  Nightly s("score:\n  top_n: 10\n");
  ASSERT_EQ(s.run().exit_code, 0);
  const auto db = s.db();
  sqlite(db, "CREATE TABLE exact_copy AS SELECT user_id, movie_id FROM recommendations");
  auto r = run_pipeline("score --config " + quoted(s.config) + " --set score.method=ann");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const long long total = count(db, "SELECT count(*) FROM exact_copy");
  const long long same = count(db,
                               "SELECT count(*) FROM exact_copy e JOIN recommendations r "
                               "USING (user_id, movie_id)");
  EXPECT_EQ(count(db, "SELECT count(*) FROM recommendations"), total);
  EXPECT_GE(static_cast<double>(same) / static_cast<double>(total), 0.95);
  EXPECT_NE(sqlite(db, "SELECT config FROM runs ORDER BY run_id DESC LIMIT 1").find("method: ann"),
            std::string::npos);
}

}  // namespace
}  // namespace recs::test
