#include "data/generate.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "util/error.h"
#include "util/random.h"

namespace recs {
namespace {

namespace fs = std::filesystem;

// ---- Shape of the planted data. Tuned so ML-25M-sized output looks roughly
// like ML-25M: mean rating ~3.5, whole stars more common than half stars,
// a popularity head rated by a large share of users and a long thin tail.
constexpr double kGlobalMean = 3.13;  // before the lift from picking liked movies
constexpr double kUserBiasSd = 0.45;
constexpr double kMovieBiasSd = 0.4;
constexpr double kPopularityBonus = 0.3;  // popular movies are rated a bit higher
constexpr double kInteractionSd = 0.7;    // sd of the u.v term
constexpr double kNoiseSd = 0.65;
constexpr double kWholeStarShare = 0.4;  // users who never give half stars
// Which movies a user rates follows taste as well as popularity, as in real
// data (people mostly watch what they expect to like): a movie is picked with
// weight popularity * exp(kSelectionStrength * min(z, kSelectionCap)), where
// z = w.v / kInteractionSd and w = kSelectionAlignment u +
// sqrt(1 - kSelectionAlignment^2) u' mixes the user's rating factors u with
// factors u' of their own. Without it only the rating values would carry
// taste, and no model could rank better than the most popular movies; with
// w = u the movies a user rates would all be ones they like, leaving their
// ratings little taste to learn from. The cap bounds the tilt so a draw can
// be accepted with probability exp(strength * (min(z, cap) - cap)).
constexpr double kSelectionStrength = 1.5;
constexpr double kSelectionCap = 2.0;
constexpr double kSelectionAlignment = 0.5;
// Zipf-Mandelbrot popularity (rank + 1 + offset)^-exponent. With exponent 1
// every movie gets >= 40 ratings at ML-25M size; 1.5 gives ML's thin tail, and
// the offset (a share of the catalog) keeps the head near ML's ~60k ratings.
constexpr double kZipfExponent = 1.5;
constexpr double kZipfOffsetShare = 0.002;
constexpr double kActivitySigma = 1.3;  // log-normal sd of per-user activity
constexpr std::int64_t kMinRatingsPerUser = 20;
constexpr double kMeanIdGap = 20.0;
constexpr std::int64_t kEpochStart = 946684800;  // 2000-01-01
constexpr std::int64_t kEpochEnd = 1704067199;   // 2023-12-31 23:59:59
constexpr double kMedianSpanSeconds = 30.0 * 86400;
constexpr double kSpanSigma = 2.0;
constexpr std::int64_t kChunkRatings = 1 << 17;  // ratings per pipeline token

// Walker/Vose alias table: O(1) weighted draws from one 64-bit random number.
class AliasTable {
 public:
  explicit AliasTable(const std::vector<double>& weights) : n_(weights.size()), cells_(n_) {
    double total = 0;
    for (double w : weights) total += w;
    std::vector<double> p(n_);
    std::vector<std::uint32_t> small, large;
    for (std::size_t i = 0; i < n_; ++i) {
      p[i] = weights[i] * static_cast<double>(n_) / total;
      (p[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const std::uint32_t s = small.back(), l = large.back();
      small.pop_back();
      large.pop_back();
      cells_[s] = {to_threshold(p[s]), l};
      p[l] -= 1.0 - p[s];
      (p[l] < 1.0 ? small : large).push_back(l);
    }
    // Leftovers are 1 up to rounding.
    for (std::uint32_t i : small) cells_[i] = {std::numeric_limits<std::uint32_t>::max(), i};
    for (std::uint32_t i : large) cells_[i] = {std::numeric_limits<std::uint32_t>::max(), i};
  }

  std::uint32_t sample(std::uint64_t r) const {
    const auto i = static_cast<std::uint32_t>(((r >> 32) * n_) >> 32);
    const Cell& c = cells_[i];
    return static_cast<std::uint32_t>(r) < c.threshold ? i : c.alias;
  }

 private:
  struct Cell {
    std::uint32_t threshold;  // keep i when the low 32 bits are below this
    std::uint32_t alias;
  };
  static std::uint32_t to_threshold(double p) {
    return static_cast<std::uint32_t>(std::clamp(p, 0.0, 1.0) * 4294967295.0);
  }
  std::uint64_t n_;
  std::vector<Cell> cells_;
};

// ---- movies.csv

constexpr std::array<std::string_view, 18> kGenres = {
    "Action",      "Adventure", "Animation", "Children",  "Comedy", "Crime",
    "Documentary", "Drama",     "Fantasy",   "Film-Noir", "Horror", "Musical",
    "Mystery",     "Romance",   "Sci-Fi",    "Thriller",  "War",    "Western"};
// Relative frequencies from ml-latest-small.
constexpr std::array<double, 18> kGenreWeights = {
    1828, 1263, 611, 664, 3756, 1199, 440, 4361, 779, 87, 978, 334, 573, 1596, 980, 1894, 382, 167};

constexpr std::array<std::string_view, 40> kAdjectives = {
    "Silent",   "Broken", "Last",    "Lost",    "Dark",      "Golden",    "Hidden",   "Wild",
    "Little",   "Secret", "Crimson", "Endless", "Forgotten", "Savage",    "Quiet",    "Electric",
    "Midnight", "Frozen", "Burning", "Lonely",  "Perfect",   "Final",     "Sweet",    "Strange",
    "Bitter",   "Hollow", "Velvet",  "Iron",    "Paper",     "Blue",      "Red",      "Black",
    "White",    "Long",   "Deadly",  "Happy",   "Crazy",     "Invisible", "American", "Big"};
constexpr std::array<std::string_view, 50> kNouns = {
    "River",   "City",    "Night",    "Heart",   "Road",   "House",    "Summer",    "Dream",
    "Shadow",  "Garden",  "Storm",    "Kingdom", "Mirror", "Island",   "Train",     "Letter",
    "Game",    "Star",    "Voice",    "Empire",  "Ghost",  "Stranger", "Sky",       "Harbor",
    "Winter",  "Fire",    "Machine",  "Promise", "Dog",    "Wedding",  "Detective", "President",
    "Witness", "Circus",  "Bridge",   "Hunter",  "Planet", "Thief",    "Child",     "Memory",
    "Ocean",   "Moon",    "Mountain", "Valley",  "Woman",  "Man",      "Family",    "Party",
    "Job",     "Treasure"};
constexpr std::array<std::string_view, 16> kNames = {
    "Harry", "Lola", "Johnny", "Amelie", "Bob",   "Rosemary", "Max",     "Annie",
    "Marty", "Eve",  "Frank",  "Clara",  "Oscar", "Ruby",     "Vincent", "Nina"};
// Alternate (foreign) titles, as MovieLens appends them in parentheses.
constexpr std::array<std::string_view, 12> kForeign = {"Cité des enfants perdus, La",
                                                       "Nuit américaine, La",
                                                       "Ciudad perdida, La",
                                                       "Himmel über Berlin, Der",
                                                       "Rêve, Le",
                                                       "Strada, La",
                                                       "Corazón salvaje, El",
                                                       "Sommer, Der",
                                                       "Maison du silence, La",
                                                       "Été meurtrier, L'",
                                                       "Tigre, Il",
                                                       "Noche, La"};

enum class TitleStyle { kAny, kComma, kQuote };

template <std::size_t N>
std::string_view pick(random::Rng& rng, const std::array<std::string_view, N>& words) {
  return words[random::below(rng, N)];
}

std::string title_core(random::Rng& rng) {
  std::string s;
  const std::uint64_t form = random::below(rng, 5);
  if (form == 0) {
    s.append(pick(rng, kNouns)).append(" of the ").append(pick(rng, kNouns));
  } else if (form == 1) {
    s.append(pick(rng, kNames)).append("'s ").append(pick(rng, kNouns));
  } else if (form == 2) {
    s.append(pick(rng, kNouns));
  } else {
    s.append(pick(rng, kAdjectives)).append(" ").append(pick(rng, kNouns));
  }
  return s;
}

std::string make_title(random::Rng& rng, TitleStyle style) {
  std::string t;
  const double p = style == TitleStyle::kComma   ? 0.0
                   : style == TitleStyle::kQuote ? 0.15
                                                 : random::unit_double(rng);
  if (p < 0.10) {  // MovieLens moves leading articles to the end: "President, The"
    t = std::string(pick(rng, kAdjectives)) + " " + std::string(pick(rng, kNouns)) +
        (random::below(rng, 4) == 0 ? ", A" : ", The");
  } else if (p < 0.12) {
    t = title_core(rng) + ", " + title_core(rng);
  } else if (p < 0.14) {
    t = title_core(rng) + " (" + std::string(pick(rng, kForeign)) + ")";
  } else if (p < 0.155) {  // embedded quotes, doubled when written
    if (random::below(rng, 2) == 0) {
      t = "\"" + title_core(rng) + "\" " + std::string(pick(rng, kNouns));
    } else {
      t = std::string(pick(rng, kNames)) + " \"" + std::string(pick(rng, kAdjectives)) + "\" " +
          std::string(pick(rng, kNouns));
    }
  } else if (p < 0.25) {
    t = title_core(rng) + ": " + title_core(rng);
  } else if (p < 0.30) {
    t = title_core(rng) + " " + std::to_string(2 + random::below(rng, 4));
  } else {
    t = title_core(rng);
  }
  // Release years skew recent, as in MovieLens.
  const auto year = std::max<std::int64_t>(
      1902, 2023 - static_cast<std::int64_t>(random::exponential(rng) * 18.0));
  t.append(" (").append(std::to_string(year)).append(")");
  return t;
}

// RFC 4180: quote a field containing a comma, quote or newline; double inner quotes.
void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\n\r") == std::string_view::npos) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_genres(random::Rng& rng, std::string& out) {
  if (random::below(rng, 300) == 0) {
    out.append("(no genres listed)");
    return;
  }
  // 1..5 genres, mostly 1-2.
  const double p = random::unit_double(rng);
  const int n = p < 0.40 ? 1 : p < 0.73 ? 2 : p < 0.91 ? 3 : p < 0.98 ? 4 : 5;
  double total = 0;
  for (double w : kGenreWeights) total += w;
  std::array<bool, kGenres.size()> chosen{};
  for (int have = 0; have < n;) {
    double r = random::unit_double(rng) * total;
    std::size_t g = 0;
    while (g + 1 < kGenres.size() && r >= kGenreWeights[g]) r -= kGenreWeights[g++];
    if (!chosen[g]) {
      chosen[g] = true;
      ++have;
    }
  }
  bool first = true;  // kGenres is alphabetical, as MovieLens lists them
  for (std::size_t g = 0; g < kGenres.size(); ++g) {
    if (!chosen[g]) continue;
    if (!first) out.push_back('|');
    out.append(kGenres[g]);
    first = false;
  }
}

std::string movies_csv(const GenerateOptions& o, const std::vector<std::int64_t>& ids) {
  random::Rng rng(o.seed, random::Stream::kGenerateTitles);
  const std::int64_t n = o.movies;
  // Guarantee at least one quoted title with a comma and one with quotes, so
  // importers always meet both cases.
  const auto comma_at = static_cast<std::int64_t>(random::below(rng, n));
  auto quote_at = static_cast<std::int64_t>(random::below(rng, n));
  if (quote_at == comma_at && n > 1) quote_at = (quote_at + 1) % n;
  std::string out = "movieId,title,genres\n";
  out.reserve(static_cast<std::size_t>(n) * 56 + 32);
  for (std::int64_t i = 0; i < n; ++i) {
    const TitleStyle style = i == comma_at   ? TitleStyle::kComma
                             : i == quote_at ? TitleStyle::kQuote
                                             : TitleStyle::kAny;
    out.append(std::to_string(ids[i])).push_back(',');
    append_csv_field(out, make_title(rng, style));
    out.push_back(',');
    append_genres(rng, out);
    out.push_back('\n');
  }
  return out;
}

// ---- The planted model.

struct Model {
  int rank = 0;
  std::int64_t movies = 0;
  std::vector<std::int64_t> movie_ids;  // index -> id, increasing with gaps
  std::vector<double> popularity;       // sampling weight per movie index
  // Factors and biases are stored in popularity order (row_of[index]) so the
  // rows most ratings touch share a few cache lines.
  std::vector<std::uint32_t> row_of;
  std::vector<float> movie_factors;  // movies x rank, pre-scaled so u.v has sd kInteractionSd
  std::vector<float> movie_bias;
  std::vector<std::int64_t> counts;  // ratings per user
};

Model make_model(const GenerateOptions& o) {
  Model m;
  m.rank = o.rank;
  m.movies = o.movies;
  const auto n = static_cast<std::size_t>(o.movies);
  random::Rng rng(o.seed, random::Stream::kGenerateMovies);

  m.movie_ids.resize(n);
  std::int64_t id = 1;
  for (std::size_t i = 0; i < n; ++i) {
    m.movie_ids[i] = id;
    id += 1 + static_cast<std::int64_t>(random::exponential(rng) * (kMeanIdGap - 1.0));
  }

  // Zipf-Mandelbrot over a random permutation, so popularity is unrelated to id.
  std::vector<std::uint32_t> by_rank(n);
  for (std::size_t i = 0; i < n; ++i) by_rank[i] = static_cast<std::uint32_t>(i);
  random::shuffle(by_rank, rng);
  const double offset = kZipfOffsetShare * static_cast<double>(n);
  m.popularity.resize(n);
  m.row_of.resize(n);
  m.movie_bias.resize(n);
  for (std::size_t r = 0; r < n; ++r) {
    const std::uint32_t i = by_rank[r];
    m.popularity[i] = std::pow(static_cast<double>(r) + 1.0 + offset, -kZipfExponent);
    m.row_of[i] = static_cast<std::uint32_t>(r);
    m.movie_bias[r] = static_cast<float>(
        kMovieBiasSd * random::normal(rng) +
        kPopularityBonus * (0.5 - static_cast<double>(r) / static_cast<double>(n)));
  }

  // u and v entries ~ N(0, 1): u.v has variance rank, hence the 1/sqrt(rank).
  const double scale = kInteractionSd / std::sqrt(static_cast<double>(o.rank));
  m.movie_factors.resize(n * static_cast<std::size_t>(o.rank));
  for (float& f : m.movie_factors) f = static_cast<float>(scale * random::normal(rng));
  return m;
}

// Ratings per user: a floor (MovieLens keeps users with >= 20 ratings) plus a
// log-normal share of the rest, capped at the catalog, summing exactly to
// `ratings`. Requires users <= ratings <= users * movies.
std::vector<std::int64_t> user_counts(const GenerateOptions& o) {
  const std::int64_t users = o.users, movies = o.movies;
  const std::int64_t floor_count =
      std::min({kMinRatingsPerUser, movies, std::max<std::int64_t>(1, o.ratings / users / 2)});
  const std::int64_t cap = movies - floor_count;
  const std::int64_t extra = o.ratings - users * floor_count;
  std::vector<std::int64_t> counts(static_cast<std::size_t>(users), floor_count);
  if (extra == 0) return counts;
  if (extra == users * cap) {
    std::fill(counts.begin(), counts.end(), movies);
    return counts;
  }

  random::Rng rng(o.seed, random::Stream::kGenerateActivity);
  std::vector<double> w(counts.size());
  for (double& x : w) x = std::exp(kActivitySigma * random::normal(rng));
  const double dcap = static_cast<double>(cap);
  auto allotted = [&](double t) {
    double s = 0;
    for (double x : w) s += std::min(dcap, t * x);
    return s;
  };
  // Water-filling: find t with sum(min(cap, t * w)) == extra.
  double lo = 0, hi = 1;
  while (allotted(hi) < static_cast<double>(extra)) hi *= 2;
  for (int i = 0; i < 64; ++i) {
    const double mid = 0.5 * (lo + hi);
    (allotted(mid) < static_cast<double>(extra) ? lo : hi) = mid;
  }
  std::vector<std::int64_t> add(counts.size());
  std::int64_t left = extra;
  for (std::size_t u = 0; u < w.size(); ++u) {
    add[u] = std::min(cap, static_cast<std::int64_t>(hi * w[u]));
    left -= add[u];
  }
  // Flooring leaves fewer than `users` to place (or a few too many from rounding).
  for (std::size_t u = 0; left > 0; u = (u + 1) % w.size()) {
    if (add[u] < cap) ++add[u], --left;
  }
  for (std::size_t u = 0; left < 0; u = (u + 1) % w.size()) {
    if (add[u] > 0) --add[u], ++left;
  }
  for (std::size_t u = 0; u < w.size(); ++u) counts[u] += add[u];
  return counts;
}

// ---- ratings.csv

struct Scratch {
  explicit Scratch(const Model& m)
      : taken((static_cast<std::size_t>(m.movies) + 63) / 64, 0),
        user_factors(m.rank),
        select_factors(m.rank) {}
  bool test_and_set(std::uint32_t i) {
    const std::uint64_t bit = std::uint64_t{1} << (i & 63);
    const bool was = taken[i >> 6] & bit;
    taken[i >> 6] |= bit;
    return was;
  }
  std::vector<std::uint64_t> taken;  // bitset over movie indices, all zero between users
  std::vector<std::uint32_t> items;
  std::vector<std::pair<double, std::uint32_t>> keyed;
  std::vector<float> user_factors;
  std::vector<float> select_factors;  // w above
};

// How much the user with factors s.select_factors wants to rate movie i, in
// (0, 1]: the tilt above relative to its cap.
double appeal(const Model& m, const Scratch& s, std::uint32_t i) {
  const float* v = &m.movie_factors[static_cast<std::size_t>(m.row_of[i]) * m.rank];
  float dot = 0;
  for (int d = 0; d < m.rank; ++d) dot += s.select_factors[d] * v[d];
  const double z = std::min(static_cast<double>(dot) / kInteractionSd, kSelectionCap);
  return std::exp(kSelectionStrength * (z - kSelectionCap));
}

// k distinct movies, weighted by popularity * appeal, without replacement;
// leaves s.items sorted ascending (= by movie id) and s.taken all zero.
void sample_movies(random::Rng& rng, std::int64_t k, const Model& m, const AliasTable& alias,
                   Scratch& s) {
  const std::int64_t n = m.movies;
  s.items.clear();
  bool done = false;
  // A popularity draw kept with probability appeal(i) is a draw weighted by
  // their product; rejecting duplicates makes that exactly sequential
  // weighted sampling without replacement, cheap while the user takes a
  // small share of the mass.
  if (k * 3 <= n) {
    for (std::int64_t budget = 64 * k + 1024; budget > 0; --budget) {
      const std::uint32_t i = alias.sample(rng());
      if (random::unit_double(rng) >= appeal(m, s, i)) continue;
      if (s.test_and_set(i)) continue;
      s.items.push_back(i);
      if (static_cast<std::int64_t>(s.items.size()) == k) break;
    }
    done = static_cast<std::int64_t>(s.items.size()) == k;
    if (!done) {
      std::fill(s.taken.begin(), s.taken.end(), 0);
      s.items.clear();
    }
  }
  if (!done) {
    // Heavy user: Efraimidis-Spirakis, the k smallest Exp(1)/w keys; same
    // distribution as above, O(catalog) instead of many rejections.
    s.keyed.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const auto idx = static_cast<std::uint32_t>(i);
      s.keyed[i] = {random::exponential(rng) / (m.popularity[i] * appeal(m, s, idx)), idx};
    }
    if (k < n) std::nth_element(s.keyed.begin(), s.keyed.begin() + k, s.keyed.end());
    for (std::int64_t j = 0; j < k; ++j) s.test_and_set(s.keyed[j].second);
    s.items.resize(static_cast<std::size_t>(k));
  }
  if (s.taken.size() <= s.items.size() * 16) {
    // Scanning the bitset (catalog / 64 words) is cheaper than sorting k items.
    std::size_t j = 0;
    for (std::size_t w = 0; w < s.taken.size(); ++w) {
      for (std::uint64_t bits = s.taken[w]; bits != 0; bits &= bits - 1) {
        s.items[j++] = static_cast<std::uint32_t>(w * 64 + std::countr_zero(bits));
      }
      s.taken[w] = 0;
    }
  } else {
    std::sort(s.items.begin(), s.items.end());
    for (std::uint32_t i : s.items) s.taken[i >> 6] = 0;
  }
}

constexpr std::array<std::string_view, 10> kRatingText = {"0.5", "1.0", "1.5", "2.0", "2.5",
                                                          "3.0", "3.5", "4.0", "4.5", "5.0"};

// Appends user u's rows (0-based u, written as u + 1) at `out`; returns the new end.
char* write_user(const GenerateOptions& o, const Model& m, const AliasTable& alias, std::int64_t u,
                 Scratch& s, char* out) {
  random::Rng rng(o.seed, random::Stream::kGenerateUsers, static_cast<std::uint64_t>(u));
  for (float& f : s.user_factors) f = static_cast<float>(random::normal(rng));
  const double own = std::sqrt(1.0 - kSelectionAlignment * kSelectionAlignment);
  for (std::size_t d = 0; d < s.select_factors.size(); ++d) {
    s.select_factors[d] =
        static_cast<float>(kSelectionAlignment * s.user_factors[d] + own * random::normal(rng));
  }
  const double user_bias = kUserBiasSd * random::normal(rng);
  const bool whole_stars = random::unit_double(rng) < kWholeStarShare;
  const std::int64_t start =
      kEpochStart + static_cast<std::int64_t>(random::below(rng, kEpochEnd - kEpochStart));
  const double span_guess = kMedianSpanSeconds * std::exp(kSpanSigma * random::normal(rng));
  const std::int64_t span =
      std::min(kEpochEnd - start, static_cast<std::int64_t>(std::min(span_guess, 1e12)));

  const std::int64_t k = m.counts[static_cast<std::size_t>(u)];
  sample_movies(rng, k, m, alias, s);

  char uid[24];
  const auto uid_len =
      static_cast<std::size_t>(std::to_chars(uid, uid + sizeof uid, u + 1).ptr - uid);
  uid[uid_len] = ',';
  const int rank = m.rank;
  const std::size_t n_items = s.items.size();
  for (std::size_t j = 0; j < n_items; ++j) {
    // Tail movies are cold in cache and the rows are in random order: fetch ahead.
    constexpr std::size_t kAhead = 8;
    if (j + kAhead < n_items) {
      const std::uint32_t ahead = m.row_of[s.items[j + kAhead]];
      __builtin_prefetch(&m.movie_factors[static_cast<std::size_t>(ahead) * rank]);
      __builtin_prefetch(&m.movie_bias[ahead]);
    }
    const std::uint32_t i = s.items[j];
    const std::uint32_t row = m.row_of[i];
    const float* v = &m.movie_factors[static_cast<std::size_t>(row) * rank];
    float dot = 0;
    for (int d = 0; d < rank; ++d) dot += s.user_factors[d] * v[d];
    // Irwin-Hall(4) from one draw: near-normal noise without a log per rating.
    const std::uint64_t r = rng();
    const double ih = static_cast<double>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) +
                                          ((r >> 32) & 0xFFFF) + (r >> 48)) /
                          65536.0 -
                      2.0;
    const double noise = ih * (kNoiseSd / std::sqrt(1.0 / 3.0));
    const double x = kGlobalMean + user_bias + m.movie_bias[row] + dot + noise;
    int half_steps;  // rating * 2
    if (whole_stars) {
      half_steps = 2 * std::clamp(static_cast<int>(std::floor(x + 0.5)), 1, 5);
    } else {
      half_steps = std::clamp(static_cast<int>(std::floor(2 * x + 0.5)), 1, 10);
    }
    const std::int64_t ts = start + static_cast<std::int64_t>(random::below(rng, span + 1));

    std::memcpy(out, uid, uid_len + 1);
    out += uid_len + 1;
    out = std::to_chars(out, out + 24, m.movie_ids[i]).ptr;
    *out++ = ',';
    std::memcpy(out, kRatingText[half_steps - 1].data(), 3);
    out += 3;
    *out++ = ',';
    out = std::to_chars(out, out + 24, ts).ptr;
    *out++ = '\n';
  }
  return out;
}

int digits(std::int64_t x) {
  int d = 1;
  while (x >= 10) x /= 10, ++d;
  return d;
}

// A file written under a temporary name in the same folder and renamed over
// the final name by commit(); removed if never committed.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path final_path)
      : final_(std::move(final_path)),
        temp_(final_.parent_path() /
              (final_.filename().string() + ".tmp." + std::to_string(::getpid()))) {
    file_ = std::fopen(temp_.c_str(), "wb");
    if (!file_) fail("cannot create");
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (file_) std::fclose(file_);
    if (!committed_) {
      std::error_code ec;
      fs::remove(temp_, ec);
    }
  }

  void write(const char* data, std::size_t n) {
    if (n > 0 && std::fwrite(data, 1, n, file_) != n) fail("cannot write");
  }
  void write(std::string_view s) { write(s.data(), s.size()); }
  void close() {
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) fail("cannot write");
  }
  void commit() {
    std::error_code ec;
    fs::rename(temp_, final_, ec);
    if (ec)
      throw UsageError("cannot rename " + temp_.string() + " to " + final_.string() + ": " +
                       ec.message());
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw UsageError(std::string(what) + " " + temp_.string() + ": " + std::strerror(errno));
  }
  fs::path final_;
  fs::path temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

void write_ratings(const GenerateOptions& o, const Model& m, AtomicFile& file) {
  const AliasTable alias(m.popularity);
  // Contiguous user ranges of ~kChunkRatings rows: generated in parallel,
  // written in order, so memory stays bounded and output is thread-independent.
  std::vector<std::int64_t> bounds = {0};
  std::int64_t acc = 0;
  for (std::int64_t u = 0; u < o.users; ++u) {
    acc += m.counts[static_cast<std::size_t>(u)];
    if (acc >= kChunkRatings || u + 1 == o.users) {
      bounds.push_back(u + 1);
      acc = 0;
    }
  }
  const std::size_t chunks = bounds.size() - 1;
  const std::size_t row_max = static_cast<std::size_t>(
      digits(o.users) + digits(m.movie_ids.back()) + digits(kEpochEnd) + 3 + 4);
  struct Text {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
  };
  std::vector<Text> texts(chunks);
  tbb::enumerable_thread_specific<Scratch> scratch([&] { return Scratch(m); });

  file.write("userId,movieId,rating,timestamp\n");
  std::size_t next = 0;
  const auto tokens = static_cast<std::size_t>(2 * tbb::this_task_arena::max_concurrency() + 1);
  tbb::parallel_pipeline(
      tokens, tbb::make_filter<void, std::size_t>(tbb::filter_mode::serial_in_order,
                                                  [&](tbb::flow_control& fc) -> std::size_t {
                                                    if (next == chunks) fc.stop();
                                                    return next++;
                                                  }) &
                  tbb::make_filter<std::size_t, std::size_t>(
                      tbb::filter_mode::parallel,
                      [&](std::size_t c) {
                        std::int64_t rows = 0;
                        for (std::int64_t u = bounds[c]; u < bounds[c + 1]; ++u) {
                          rows += m.counts[static_cast<std::size_t>(u)];
                        }
                        Text& t = texts[c];
                        t.data.reset(new char[static_cast<std::size_t>(rows) * row_max]);
                        char* out = t.data.get();
                        Scratch& s = scratch.local();
                        for (std::int64_t u = bounds[c]; u < bounds[c + 1]; ++u) {
                          out = write_user(o, m, alias, u, s, out);
                        }
                        t.size = static_cast<std::size_t>(out - t.data.get());
                        return c;
                      }) &
                  tbb::make_filter<std::size_t, void>(
                      tbb::filter_mode::serial_in_order, [&](std::size_t c) {
                        file.write(texts[c].data.get(), texts[c].size);
                        texts[c] = Text{};
                      }));
}

void validate(const GenerateOptions& o) {
  constexpr std::int64_t kMaxCount = std::numeric_limits<std::int32_t>::max();
  if (o.users <= 0 || o.users > kMaxCount) {
    throw UsageError("generate: users must be in 1.." + std::to_string(kMaxCount) + ", got " +
                     std::to_string(o.users));
  }
  if (o.movies <= 0 || o.movies > kMaxCount) {
    throw UsageError("generate: movies must be in 1.." + std::to_string(kMaxCount) + ", got " +
                     std::to_string(o.movies));
  }
  if (o.ratings <= 0) {
    throw UsageError("generate: ratings must be positive, got " + std::to_string(o.ratings));
  }
  if (o.ratings < o.users) {
    throw UsageError("generate: ratings (" + std::to_string(o.ratings) +
                     ") must be at least users (" + std::to_string(o.users) +
                     ") so that every user has a rating");
  }
  if (o.ratings > o.users * o.movies) {  // no overflow: both <= 2^31
    throw UsageError("generate: ratings (" + std::to_string(o.ratings) +
                     ") exceeds users * movies (" + std::to_string(o.users * o.movies) + ")");
  }
  if (o.rank < 1 || o.rank > 1024) {
    throw UsageError("generate: rank must be in 1..1024, got " + std::to_string(o.rank));
  }
  if (o.out.empty()) throw UsageError("generate: no output folder given");
}

}  // namespace

GenerateSummary generate(const GenerateOptions& options) {
  validate(options);
  std::error_code ec;
  fs::create_directories(options.out, ec);
  if (ec || !fs::is_directory(options.out)) {
    throw UsageError("generate: cannot create output folder " + options.out.string() + ": " +
                     (ec ? ec.message() : std::string("not a directory")));
  }

  Model model = make_model(options);
  model.counts = user_counts(options);

  AtomicFile movies(options.out / "movies.csv");
  movies.write(movies_csv(options, model.movie_ids));
  movies.close();
  AtomicFile ratings(options.out / "ratings.csv");
  write_ratings(options, model, ratings);
  ratings.close();
  // Movies first: a finished ratings.csv then always has its movies.csv.
  movies.commit();
  ratings.commit();
  return {options.users, options.movies, options.ratings};
}

}  // namespace recs
