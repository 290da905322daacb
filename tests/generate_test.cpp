// Tests for the synthetic MovieLens-format generator: format, invariants,
// determinism, and that the planted structure is really there.
#include "data/generate.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace recs {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "generate_test.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Lines without their '\n'; the file must end with '\n'.
std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  if (!text.empty() && text.back() != '\n') throw std::runtime_error("no final newline");
  while (!text.empty()) {
    const auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return out;
}

// One RFC 4180 record (no embedded newlines); throws on malformed quoting.
std::vector<std::string> split_csv(std::string_view line) {
  std::vector<std::string> fields;
  std::size_t i = 0;
  while (true) {
    std::string field;
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) throw std::runtime_error("unterminated quote: " + std::string(line));
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
          } else {
            ++i;
            break;
          }
        } else {
          field += line[i++];
        }
      }
      if (i < line.size() && line[i] != ',') {
        throw std::runtime_error("text after closing quote: " + std::string(line));
      }
    } else {
      while (i < line.size() && line[i] != ',') {
        if (line[i] == '"') throw std::runtime_error("bare quote: " + std::string(line));
        field += line[i++];
      }
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) return fields;
    ++i;  // the comma
  }
}

// The minimal RFC 4180 encoding; the generator's lines must be exactly this.
std::string join_csv(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t f = 0; f < fields.size(); ++f) {
    if (f) out += ',';
    if (fields[f].find_first_of(",\"") == std::string::npos) {
      out += fields[f];
      continue;
    }
    out += '"';
    for (char c : fields[f]) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  return out;
}

std::int64_t to_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    throw std::runtime_error("not an integer: '" + std::string(s) + "'");
  }
  return v;
}

struct Rating {
  std::int64_t user, movie;
  int half_stars;  // rating * 2
  std::int64_t timestamp;
};

struct Movie {
  std::int64_t id;
  std::string title, genres;
};

struct Data {
  std::string ratings_text, movies_text;
  std::vector<Rating> ratings;
  std::vector<Movie> movies;
};

// Parses both files, checking the format of every field as it goes.
Data load(const fs::path& dir) {
  Data d;
  d.ratings_text = read_file(dir / "ratings.csv");
  d.movies_text = read_file(dir / "movies.csv");
  if (d.ratings_text.find('\r') != std::string::npos) throw std::runtime_error("CR in ratings");
  if (d.movies_text.find('\r') != std::string::npos) throw std::runtime_error("CR in movies");

  const auto rl = lines(d.ratings_text);
  if (rl.empty() || rl[0] != "userId,movieId,rating,timestamp") {
    throw std::runtime_error("bad ratings header");
  }
  static const std::map<std::string, int> kValues = {{"0.5", 1}, {"1.0", 2}, {"1.5", 3}, {"2.0", 4},
                                                     {"2.5", 5}, {"3.0", 6}, {"3.5", 7}, {"4.0", 8},
                                                     {"4.5", 9}, {"5.0", 10}};
  for (std::size_t i = 1; i < rl.size(); ++i) {
    const auto f = split_csv(rl[i]);
    if (f.size() != 4) throw std::runtime_error("ratings row: " + std::string(rl[i]));
    const auto value = kValues.find(f[2]);
    if (value == kValues.end()) throw std::runtime_error("bad rating value: " + f[2]);
    d.ratings.push_back({to_int(f[0]), to_int(f[1]), value->second, to_int(f[3])});
  }

  const auto ml = lines(d.movies_text);
  if (ml.empty() || ml[0] != "movieId,title,genres") throw std::runtime_error("bad movies header");
  for (std::size_t i = 1; i < ml.size(); ++i) {
    const auto f = split_csv(ml[i]);
    if (f.size() != 3) throw std::runtime_error("movies row: " + std::string(ml[i]));
    if (join_csv(f) != ml[i])
      throw std::runtime_error("not minimal RFC 4180: " + std::string(ml[i]));
    d.movies.push_back({to_int(f[0]), f[1], f[2]});
  }
  return d;
}

GenerateOptions small_options(const fs::path& out, std::uint64_t seed = 42) {
  GenerateOptions o;
  o.users = 400;
  o.movies = 600;
  o.ratings = 16000;
  o.out = out;
  o.seed = seed;
  return o;
}

// Every invariant that must hold for any valid options.
void check_invariants(const GenerateOptions& o, const Data& d) {
  ASSERT_EQ(static_cast<std::int64_t>(d.ratings.size()), o.ratings);
  ASSERT_EQ(static_cast<std::int64_t>(d.movies.size()), o.movies);

  std::set<std::int64_t> movie_ids;
  for (std::size_t i = 0; i < d.movies.size(); ++i) {
    const Movie& m = d.movies[i];
    if (i > 0) {
      ASSERT_LT(d.movies[i - 1].id, m.id) << "movie ids must increase";
    }
    ASSERT_GE(m.id, 1);
    movie_ids.insert(m.id);
    // "Title Words (1994)"
    ASSERT_GE(m.title.size(), 8u) << m.title;
    const std::string year = m.title.substr(m.title.size() - 6);
    ASSERT_TRUE(year[0] == '(' && year[5] == ')') << m.title;
    const auto y = to_int(year.substr(1, 4));
    EXPECT_TRUE(y >= 1900 && y <= 2024) << m.title;
    ASSERT_EQ(m.title[m.title.size() - 7], ' ') << m.title;
    if (m.genres != "(no genres listed)") {
      static const std::set<std::string> kGenres = {
          "Action",      "Adventure", "Animation", "Children",  "Comedy", "Crime",
          "Documentary", "Drama",     "Fantasy",   "Film-Noir", "Horror", "Musical",
          "Mystery",     "Romance",   "Sci-Fi",    "Thriller",  "War",    "Western"};
      std::set<std::string> seen;
      std::stringstream ss(m.genres);
      std::string g;
      while (std::getline(ss, g, '|')) {
        EXPECT_TRUE(kGenres.count(g)) << "unknown genre '" << g << "' in " << m.genres;
        EXPECT_TRUE(seen.insert(g).second) << "repeated genre in " << m.genres;
      }
      EXPECT_FALSE(seen.empty());
    }
  }

  std::vector<std::int64_t> per_user(static_cast<std::size_t>(o.users) + 1, 0);
  std::set<std::pair<std::int64_t, std::int64_t>> pairs;
  for (std::size_t i = 0; i < d.ratings.size(); ++i) {
    const Rating& r = d.ratings[i];
    ASSERT_GE(r.user, 1);
    ASSERT_LE(r.user, o.users);
    if (i > 0) {
      const Rating& p = d.ratings[i - 1];
      ASSERT_TRUE(p.user < r.user || (p.user == r.user && p.movie < r.movie))
          << "row " << i + 1 << " out of order: " << p.user << "," << p.movie << " then " << r.user
          << "," << r.movie;
    }
    ASSERT_TRUE(pairs.insert({r.user, r.movie}).second) << "duplicate pair";
    ASSERT_TRUE(movie_ids.count(r.movie)) << "movie " << r.movie << " not in movies.csv";
    ASSERT_GE(r.half_stars, 1);
    ASSERT_LE(r.half_stars, 10);
    ASSERT_GE(r.timestamp, 946684800);   // 2000-01-01
    ASSERT_LT(r.timestamp, 1704067200);  // 2024-01-01
    ++per_user[static_cast<std::size_t>(r.user)];
  }
  const std::int64_t want_min = o.ratings / o.users >= 10 ? 5 : 1;
  for (std::int64_t u = 1; u <= o.users; ++u) {
    ASSERT_GE(per_user[static_cast<std::size_t>(u)], want_min) << "user " << u;
  }
}

TEST(Generate, WritesValidMovieLensFiles) {
  TempDir dir;
  const auto o = small_options(dir.path());
  const GenerateSummary s = generate(o);
  EXPECT_EQ(s.users, o.users);
  EXPECT_EQ(s.movies, o.movies);
  EXPECT_EQ(s.ratings, o.ratings);
  const Data d = load(dir.path());
  check_invariants(o, d);

  // Nothing but the two files: temporaries were renamed away.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path())) names.insert(e.path().filename());
  EXPECT_EQ(names, (std::set<std::string>{"movies.csv", "ratings.csv"}));
}

TEST(Generate, MovieIdsAreSparse) {
  TempDir dir;
  const auto o = small_options(dir.path());
  generate(o);
  const Data d = load(dir.path());
  EXPECT_EQ(d.movies.front().id, 1);
  int gaps = 0;
  for (std::size_t i = 1; i < d.movies.size(); ++i) gaps += d.movies[i].id - d.movies[i - 1].id > 1;
  EXPECT_GT(gaps, o.movies / 2);
  // Average gap about 20, as in MovieLens.
  EXPECT_GT(d.movies.back().id, 10 * o.movies);
  EXPECT_LT(d.movies.back().id, 40 * o.movies);
}

TEST(Generate, TitlesNeedQuoting) {
  TempDir dir;
  generate(small_options(dir.path()));
  const Data d = load(dir.path());
  int commas = 0, quotes = 0, articles = 0;
  for (const Movie& m : d.movies) {
    commas += m.title.find(',') != std::string::npos;
    quotes += m.title.find('"') != std::string::npos;
    articles += m.title.find(", The (") != std::string::npos;
  }
  EXPECT_GT(commas, 10);
  EXPECT_GE(quotes, 1);
  EXPECT_GE(articles, 1);
  // And on the wire: a quoted comma and a doubled quote.
  EXPECT_NE(d.movies_text.find(", The ("), std::string::npos);
  EXPECT_NE(d.movies_text.find("\"\""), std::string::npos);
}

TEST(Generate, EveryTitleStyleEvenInATinyCatalog) {
  TempDir dir;
  GenerateOptions o;
  o.users = 3;
  o.movies = 2;
  o.ratings = 4;
  o.out = dir.path();
  generate(o);
  const Data d = load(dir.path());
  check_invariants(o, d);
  ASSERT_EQ(d.movies.size(), 2u);
  const auto has = [&](char c) {
    return std::any_of(d.movies.begin(), d.movies.end(),
                       [&](const Movie& m) { return m.title.find(c) != std::string::npos; });
  };
  EXPECT_TRUE(has(','));
  EXPECT_TRUE(has('"'));
}

TEST(Generate, DeterministicForASeed) {
  TempDir a, b, c, single;
  generate(small_options(a.path(), 7));
  generate(small_options(b.path(), 7));
  generate(small_options(c.path(), 8));
  {
    // The thread count must not change the bytes.
    tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
    generate(small_options(single.path(), 7));
  }
  for (const char* f : {"ratings.csv", "movies.csv"}) {
    // EXPECT_TRUE: a failing EXPECT_EQ would print the whole files.
    EXPECT_TRUE(read_file(a.path() / f) == read_file(b.path() / f)) << f;
    EXPECT_TRUE(read_file(a.path() / f) == read_file(single.path() / f)) << f;
    EXPECT_TRUE(read_file(a.path() / f) != read_file(c.path() / f)) << f;
  }
}

TEST(Generate, DeterministicAcrossChunksAndThreads) {
  // Big enough for several pipeline chunks and heavy users.
  TempDir a, b;
  GenerateOptions o;
  o.users = 3000;
  o.movies = 2000;
  o.ratings = 600000;
  o.seed = 3;
  o.out = a.path();
  generate(o);
  {
    tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
    o.out = b.path();
    generate(o);
  }
  EXPECT_TRUE(read_file(a.path() / "ratings.csv") == read_file(b.path() / "ratings.csv"));
  const Data d = load(a.path());
  check_invariants(o, d);
}

TEST(Generate, OverwritesPreviousOutput) {
  TempDir dir;
  generate(small_options(dir.path(), 1));
  const auto o = small_options(dir.path(), 2);
  generate(o);
  check_invariants(o, load(dir.path()));
}

TEST(Generate, PopularityAndActivityAreHeavyTailed) {
  TempDir dir;
  const auto o = small_options(dir.path());
  generate(o);
  const Data d = load(dir.path());
  std::map<std::int64_t, std::int64_t> per_movie, per_user;
  for (const Movie& m : d.movies) per_movie[m.id] = 0;
  for (const Rating& r : d.ratings) ++per_movie[r.movie], ++per_user[r.user];
  auto median_max = [](const std::map<std::int64_t, std::int64_t>& counts) {
    std::vector<std::int64_t> v;
    for (const auto& [id, n] : counts) v.push_back(n);
    std::sort(v.begin(), v.end());
    return std::pair{v[v.size() / 2], v.back()};
  };
  const auto [movie_median, movie_max] = median_max(per_movie);
  EXPECT_GE(movie_max, 10 * std::max<std::int64_t>(movie_median, 1))
      << "median " << movie_median << " max " << movie_max;
  const auto [user_median, user_max] = median_max(per_user);
  EXPECT_GE(user_max, 4 * user_median) << "median " << user_median << " max " << user_max;
}

TEST(Generate, RatingsLookLikeMovieLens) {
  TempDir dir;
  const auto o = small_options(dir.path());
  generate(o);
  const Data d = load(dir.path());
  std::vector<int> hist(11, 0);
  double sum = 0;
  for (const Rating& r : d.ratings) ++hist[r.half_stars], sum += r.half_stars / 2.0;
  const double mean = sum / static_cast<double>(d.ratings.size());
  EXPECT_GT(mean, 3.2);
  EXPECT_LT(mean, 3.9);
  const int middle = hist[6] + hist[7] + hist[8] + hist[9];  // 3.0 .. 4.5
  EXPECT_GT(middle, static_cast<int>(d.ratings.size()) / 2);
  for (int h = 1; h <= 10; ++h) EXPECT_GT(hist[h], 0) << "no rating " << h / 2.0;
  EXPECT_GT(hist[8], hist[7]) << "whole stars should beat half stars";
}

// Pearson correlation.
double correlation(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

TEST(Generate, PlantedStructureIsLearnable) {
  TempDir dir;
  GenerateOptions o = small_options(dir.path());
  o.users = 2000;
  o.ratings = 80000;
  generate(o);
  const Data d = load(dir.path());

  // Movie effects: a movie's mean among odd users predicts its mean among even users.
  std::map<std::int64_t, std::array<double, 4>> halves;  // sum, n for odd; sum, n for even
  std::map<std::int64_t, std::pair<double, double>> users;
  for (const Rating& r : d.ratings) {
    auto& h = halves[r.movie];
    const int side = (r.user % 2) * 2;
    h[side] += r.half_stars / 2.0;
    h[side + 1] += 1;
    users[r.user].first += r.half_stars / 2.0;
    users[r.user].second += 1;
  }
  std::vector<double> odd, even;
  for (const auto& [id, h] : halves) {
    if (h[1] >= 10 && h[3] >= 10) odd.push_back(h[0] / h[1]), even.push_back(h[2] / h[3]);
  }
  ASSERT_GE(odd.size(), 30u);
  EXPECT_GT(correlation(odd, even), 0.5) << odd.size() << " movies";

  // User effects: per-user means spread well beyond sampling noise.
  std::vector<double> means;
  for (const auto& [id, s] : users) {
    if (s.second >= 20) means.push_back(s.first / s.second);
  }
  ASSERT_GE(means.size(), 100u);
  double m = 0, v = 0;
  for (double x : means) m += x / static_cast<double>(means.size());
  for (double x : means) v += (x - m) * (x - m) / static_cast<double>(means.size());
  EXPECT_GT(std::sqrt(v), 0.3);

  // Interactions beyond biases: users who agree on one half of the movies
  // agree on the other. Compare pairs of heavy users' centred ratings on
  // shared movies split by movie id parity.
  std::map<std::int64_t, std::map<std::int64_t, double>> by_user;
  for (const Rating& r : d.ratings) by_user[r.user][r.movie] = r.half_stars / 2.0;
  std::map<std::int64_t, std::pair<double, double>> movie_mean;
  for (const Rating& r : d.ratings) {
    movie_mean[r.movie].first += r.half_stars / 2.0;
    movie_mean[r.movie].second += 1;
  }
  auto residual = [&](std::int64_t u, std::int64_t mv, double value) {
    const auto& mm = movie_mean[mv];
    return value - mm.first / mm.second - (users[u].first / users[u].second - 3.5);
  };
  std::vector<std::int64_t> heavy;
  for (const auto& [u, items] : by_user) {
    if (items.size() >= 80) heavy.push_back(u);
  }
  ASSERT_GE(heavy.size(), 20u);
  std::vector<double> agree_even, agree_odd;
  for (std::size_t a = 0; a < heavy.size(); ++a) {
    for (std::size_t b = a + 1; b < heavy.size(); ++b) {
      double dot[2] = {0, 0};
      int n[2] = {0, 0};
      for (const auto& [mv, va] : by_user[heavy[a]]) {
        const auto it = by_user[heavy[b]].find(mv);
        if (it == by_user[heavy[b]].end()) continue;
        const int side = mv % 2;
        dot[side] += residual(heavy[a], mv, va) * residual(heavy[b], mv, it->second);
        ++n[side];
      }
      if (n[0] >= 5 && n[1] >= 5) {
        agree_even.push_back(dot[0] / n[0]);
        agree_odd.push_back(dot[1] / n[1]);
      }
    }
  }
  ASSERT_GE(agree_even.size(), 50u);
  EXPECT_GT(correlation(agree_even, agree_odd), 0.2) << agree_even.size() << " user pairs";
}

TEST(Generate, FullAndMinimalMatrices) {
  {
    TempDir dir;
    GenerateOptions o;
    o.users = 7;
    o.movies = 5;
    o.ratings = 35;  // every pair
    o.out = dir.path();
    generate(o);
    check_invariants(o, load(dir.path()));
  }
  {
    TempDir dir;
    GenerateOptions o;
    o.users = 50;
    o.movies = 30;
    o.ratings = 50;  // one each
    o.out = dir.path();
    generate(o);
    check_invariants(o, load(dir.path()));
  }
  {
    // Users needing most of the catalog take the heavy-user sampling path.
    TempDir dir;
    GenerateOptions o;
    o.users = 80;
    o.movies = 200;
    o.ratings = 80 * 120;
    o.rank = 3;
    o.out = dir.path();
    generate(o);
    const Data d = load(dir.path());
    check_invariants(o, d);
    // Still popularity-weighted: what a user skips is not just the last ids.
    std::map<std::int64_t, std::vector<std::int64_t>> rated;
    for (const Rating& r : d.ratings) rated[r.user].push_back(r.movie);
    int prefixes = 0, partial = 0;
    for (const auto& [u, ids] : rated) {
      if (static_cast<std::int64_t>(ids.size()) == o.movies) continue;
      ++partial;
      bool prefix = true;
      for (std::size_t j = 0; j < ids.size(); ++j) prefix = prefix && ids[j] == d.movies[j].id;
      prefixes += prefix;
    }
    EXPECT_GE(partial, 40);
    EXPECT_LT(prefixes, partial / 4);
  }
}

TEST(Generate, LightUsersInALargeCatalog) {
  // Few ratings per user against a big catalog: the sort-based path.
  TempDir dir;
  GenerateOptions o;
  o.users = 300;
  o.movies = 50000;
  o.ratings = 3000;
  o.out = dir.path();
  generate(o);
  check_invariants(o, load(dir.path()));
}

TEST(Generate, RejectsInvalidOptions) {
  TempDir dir;
  auto expect_usage = [&](GenerateOptions o, const std::string& needle) {
    try {
      generate(o);
      ADD_FAILURE() << "no exception; wanted one mentioning " << needle;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const auto base = small_options(dir.path() / "out");
  GenerateOptions o = base;
  o.users = 0;
  expect_usage(o, "users");
  o = base;
  o.movies = -3;
  expect_usage(o, "movies");
  o = base;
  o.ratings = 0;
  expect_usage(o, "ratings");
  o = base;
  o.users = 10;
  o.movies = 10;
  o.ratings = 101;
  expect_usage(o, "users * movies");
  o = base;
  o.ratings = o.users - 1;
  expect_usage(o, "every user");
  o = base;
  o.rank = 0;
  expect_usage(o, "rank");
  o = base;
  o.out.clear();
  expect_usage(o, "output folder");

  // A regular file where the folder should be.
  const fs::path blocker = dir.path() / "blocker";
  std::ofstream(blocker) << "x";
  o = base;
  o.out = blocker / "sub";
  expect_usage(o, blocker.string());
  o.out = blocker;
  expect_usage(o, blocker.string());
  EXPECT_FALSE(fs::exists(dir.path() / "out")) << "nothing written for invalid options";
}

TEST(Generate, UnwritableFolderNamesThePath) {
  TempDir dir;
  fs::path target = dir.path() / "ro";
  if (::geteuid() == 0) {
    target = "/proc/generate_test_cannot_create";  // root ignores permission bits
  } else {
    fs::create_directory(target);
    fs::permissions(target, fs::perms::owner_read | fs::perms::owner_exec);
  }
  try {
    generate(small_options(target));
    ADD_FAILURE() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(target.string()), std::string::npos) << e.what();
  }
  if (::geteuid() != 0) fs::permissions(target, fs::perms::owner_all);
}

}  // namespace
}  // namespace recs
