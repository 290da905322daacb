#include "shard_lists.h"

#include <gtest/gtest.h>

#include <sstream>

#include "pg_server.h"
#include "test_util.h"

namespace recs::test {
namespace {

Lists parse(const std::string& text, char sep) {
  Lists out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream f(line);
    std::string user, movie, score, because;
    std::getline(f, user, sep);
    std::getline(f, movie, sep);
    std::getline(f, score, sep);
    std::getline(f, because, sep);
    out[std::stoll(user)].push_back(
        {std::stoll(movie), std::stod(score), because.empty() ? 0 : std::stoll(because)});
  }
  return out;
}

}  // namespace

Lists sqlite_lists(const std::filesystem::path& db) {
  return parse(sqlite_readonly(db,
                               "SELECT user_id, movie_id, printf('%.9g', score), "
                               "coalesce(because_movie_id, 0) FROM recommendations "
                               "ORDER BY user_id, rank"),
               '|');
}

Lists postgres_lists(const std::string& conninfo) {
  const CommandResult r =
      psql_command(conninfo,
                   "SELECT user_id, movie_id, score, coalesce(because_movie_id, 0) FROM "
                   "recs.recommendations ORDER BY user_id, rank");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return parse(r.out, '\t');
}

void expect_same_lists(const Lists& want, const Lists& got, const std::string& what) {
  ASSERT_FALSE(want.empty()) << what;
  ASSERT_EQ(got.size(), want.size()) << what << ": users";
  int reported = 0;
  for (const auto& [user, list] : want) {
    auto it = got.find(user);
    ASSERT_NE(it, got.end()) << what << ": user " << user;
    ASSERT_EQ(it->second.size(), list.size()) << what << ": user " << user;
    for (std::size_t k = 0; k < list.size(); ++k) {
      const ListRow& a = list[k];
      const ListRow& b = it->second[k];
      if (a.movie != b.movie || std::abs(a.score - b.score) > 1e-5 || a.because != b.because) {
        ADD_FAILURE() << what << ": user " << user << " rank " << k + 1 << ": movie " << a.movie
                      << " / " << b.movie << ", score " << a.score << " / " << b.score
                      << ", because " << a.because << " / " << b.because;
        if (++reported > 10) return;
      }
    }
  }
}

}  // namespace recs::test
