#include "io/movielens.h"

#include <tbb/parallel_pipeline.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "io/csv.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

constexpr std::size_t kBadRowSamples = 10;

std::string shown(std::string_view field) {
  std::string s(field.substr(0, 40));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  return "'" + s + (field.size() > 40 ? "...'" : "'");
}

// Parses a positive integer id; returns false with `why` set on failure.
bool parse_id(std::string_view f, const char* name, std::int64_t& out, std::string& why) {
  auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), out);
  if (f.empty() || ec == std::errc::invalid_argument || p != f.data() + f.size()) {
    why = std::string(name) + " is not an integer: " + shown(f);
    return false;
  }
  if (ec == std::errc::result_out_of_range) {
    why = std::string(name) + " is out of range: " + shown(f);
    return false;
  }
  if (out <= 0) {
    why = std::string(name) + " must be a positive integer, got " + std::to_string(out);
    return false;
  }
  return true;
}

std::string fmt(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

std::string duplicate_message(const RatingRow& dup, std::int64_t first_line) {
  return "duplicate rating for user " + std::to_string(dup.user) + " and movie " +
         std::to_string(dup.movie) + " (first at line " + std::to_string(first_line) + ")";
}

}  // namespace

void BadRows::add(std::string message) {
  ++count;
  if (first.size() < kBadRowSamples) first.push_back(std::move(message));
}

double map_rating(const ImportConfig& config, double raw, const std::string& where) {
  if (config.rating_map.empty()) return raw;
  auto it = config.rating_map.find(raw);
  if (it == config.rating_map.end()) {
    throw InputError(where + ": rating " + fmt(raw) + " has no entry in import.rating_map");
  }
  return it->second;
}

namespace {
constexpr std::size_t kChunkRows = 1 << 16;
// Chunks the parser may run ahead of the consumer: bounds memory to about
// 64 x 65,536 rows when the consumer frees what it has written.
constexpr std::size_t kMaxChunksAhead = 64;
// Rows per block the merge of an unsorted file hands to the writer, and the
// blocks in flight between them.
constexpr std::size_t kMergeBlockRows = 1 << 14;
constexpr std::size_t kMergeBlocksAhead = 4;
// Movie ids below this are looked up in a bitmap (at most 8 MiB).
constexpr std::int64_t kMaxBitmapId = std::int64_t{1} << 26;
}  // namespace

RatingsReader::RatingsReader(std::filesystem::path path, const ImportConfig& config,
                             const std::unordered_set<std::int64_t>* known_movies)
    : path_(std::move(path)), config_(config), known_movies_(known_movies) {
  thread_ = std::thread([this] { parse(); });
}

RatingsReader::~RatingsReader() {
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }
  space_.notify_all();
  if (thread_.joinable()) thread_.join();
}

const RatingsReader::Chunk* RatingsReader::next() {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [&] { return consumed_ < published_ || done_; });
  if (error_) std::rethrow_exception(error_);
  if (consumed_ < published_) {
    space_.notify_one();
    return chunks_[consumed_++].get();
  }
  return nullptr;
}

void RatingsReader::parse() {
  auto publish = [&](std::unique_ptr<Chunk> chunk) {
    std::unique_lock lock(mutex_);
    space_.wait(lock, [&] { return published_ - consumed_ < kMaxChunksAhead || cancelled_; });
    chunks_.push_back(std::move(chunk));
    ++published_;
    ready_.notify_one();
  };
  try {
    CsvReader csv(path_);
    csv.expect_header({"userId", "movieId", "rating", "timestamp"});
    std::vector<std::string_view> f;
    std::string why;
    auto bad = [&](std::string reason) {
      std::string msg = csv.name() + ":" + std::to_string(csv.line()) + ": " + reason;
      if (!config_.skip_bad_rows) throw InputError(msg);
      bad_.add(std::move(msg));
    };
    // The tutorial's maps have a handful of keys; checking membership once
    // per distinct value keeps the map lookup off the per-row path.
    double last_checked = std::numeric_limits<double>::quiet_NaN();
    // Membership in the movies file: a bitmap over the ids when they are
    // small (MovieLens's are), which is far cheaper per row than the hash
    // set; the set itself otherwise.
    std::vector<bool> known_bits;
    if (known_movies_) {
      std::int64_t largest = 0;
      for (std::int64_t id : *known_movies_) largest = std::max(largest, id);
      if (largest < kMaxBitmapId) {
        known_bits.assign(static_cast<std::size_t>(largest) + 1, false);
        for (std::int64_t id : *known_movies_) known_bits[static_cast<std::size_t>(id)] = true;
      }
    }
    auto known = [&](std::int64_t movie) {
      if (known_bits.empty()) return known_movies_->count(movie) > 0;
      return movie >= 0 && static_cast<std::size_t>(movie) < known_bits.size() &&
             known_bits[static_cast<std::size_t>(movie)];
    };
    bool sorted = true;
    RatingRow prev{};
    std::int64_t prev_line = 0;
    auto chunk = std::make_unique<Chunk>();
    chunk->rows.reserve(kChunkRows);
    while (csv.next(f)) {
      if (f.size() != 4) {
        bad("expected 4 fields (userId,movieId,rating,timestamp), got " + std::to_string(f.size()));
        continue;
      }
      RatingRow r{};
      if (!parse_id(f[0], "userId", r.user, why) || !parse_id(f[1], "movieId", r.movie, why)) {
        bad(why);
        continue;
      }
      auto [p, ec] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), r.rating);
      if (f[2].empty() || ec != std::errc() || p != f[2].data() + f[2].size()) {
        bad("rating is not a number: " + shown(f[2]));
        continue;
      }
      if (!std::isfinite(r.rating)) {
        bad("rating is not a finite number: " + shown(f[2]));
        continue;
      }
      if (r.rating < config_.rating_min || r.rating > config_.rating_max) {
        bad("rating " + fmt(r.rating) + " is outside the scale [" + fmt(config_.rating_min) + ", " +
            fmt(config_.rating_max) + "]");
        continue;
      }
      if (!config_.rating_map.empty() && r.rating != last_checked) {
        if (!config_.rating_map.count(r.rating)) {
          bad("rating " + fmt(r.rating) + " has no entry in import.rating_map");
          continue;
        }
        last_checked = r.rating;
      }
      auto [q, ec2] = std::from_chars(f[3].data(), f[3].data() + f[3].size(), r.timestamp);
      if (f[3].empty() || ec2 != std::errc() || q != f[3].data() + f[3].size() || r.timestamp < 0) {
        bad("timestamp is not a non-negative integer: " + shown(f[3]));
        continue;
      }
      if (known_movies_ && !known(r.movie)) {
        bad("movie " + std::to_string(r.movie) + " is not in the movies file");
        continue;
      }
      if (sorted && prev_line != 0 && !key_less(prev, r)) {
        if (prev.user == r.user && prev.movie == r.movie) {
          bad(duplicate_message(r, prev_line));
          continue;
        }
        sorted = false;
      }
      prev = r;
      prev_line = csv.line();
      chunk->rows.push_back(r);
      if (chunk->rows.size() == kChunkRows) {
        if (cancelled_) return;
        chunk->sorted = sorted;
        chunk->end_byte = csv.offset();
        chunk->file_bytes = csv.size();
        publish(std::move(chunk));
        chunk = std::make_unique<Chunk>();
        chunk->rows.reserve(kChunkRows);
      }
    }
    if (!chunk->rows.empty()) {
      chunk->sorted = sorted;
      chunk->end_byte = chunk->file_bytes = csv.size();
      publish(std::move(chunk));
    }
  } catch (...) {
    std::lock_guard lock(mutex_);
    error_ = std::current_exception();
  }
  std::lock_guard lock(mutex_);
  done_ = true;
  ready_.notify_all();
}

void RatingsReader::release_consumed() {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < consumed_; ++i) std::vector<RatingRow>().swap(chunks_[i]->rows);
  released_ = released_ || consumed_ > 0;
}

std::map<std::pair<std::int64_t, std::int64_t>, std::vector<std::int64_t>> RatingsReader::lines_of(
    const std::vector<RatingRow>& keys) const {
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<std::int64_t>> lines;
  for (const RatingRow& k : keys) lines[{k.user, k.movie}];
  CsvReader again(path_);
  std::vector<std::string_view> g;
  std::int64_t u, m;
  std::string ignored;
  while (again.next(g)) {
    if (g.size() == 4 && parse_id(g[0], "", u, ignored) && parse_id(g[1], "", m, ignored)) {
      auto it = lines.find({u, m});
      if (it != lines.end()) it->second.push_back(again.line());
    }
  }
  return lines;
}

void RatingsReader::duplicate_error(const RatingRow& dup) const {
  const std::vector<std::int64_t> lines = lines_of({dup}).begin()->second;
  throw InputError(path_.string(), lines.size() > 1 ? lines[1] : 0,
                   duplicate_message(dup, lines.empty() ? 0 : lines[0]));
}

void RatingsReader::for_each_sorted(const std::function<void(const RatingRow&)>& visit) {
  if (released_) throw std::logic_error("RatingsReader::for_each_sorted after release_consumed");
  // Each chunk is sorted on this thread as it arrives, while the parser
  // reads on; the sorted chunks are then merged, streaming, with no copy of
  // the whole file in memory beside them. The chunks next() already handed
  // out come first.
  std::vector<std::vector<RatingRow>*> runs;
  bool sorted = true;
  auto take = [&](Chunk& c) {
    sorted = c.sorted;
    if (!std::is_sorted(c.rows.begin(), c.rows.end(), key_less)) {
      std::stable_sort(c.rows.begin(), c.rows.end(), key_less);
    }
    runs.push_back(&c.rows);
  };
  std::vector<Chunk*> handed_out;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < consumed_; ++i) handed_out.push_back(chunks_[i].get());
  }
  for (Chunk* c : handed_out) take(*c);
  while (const Chunk* c = next()) take(const_cast<Chunk&>(*c));
  if (sorted) {
    // In key order throughout: duplicates were already reported while parsing.
    for (auto* run : runs) {
      for (const RatingRow& r : *run) visit(r);
      std::vector<RatingRow>().swap(*run);
    }
    return;
  }
  // A k-way merge over a binary min-heap of run cursors. Equal keys come
  // from the earlier run first (and within a run the stable sort kept file
  // order), so the first occurrence of a duplicate in the file is the one
  // kept.
  struct Cursor {
    const RatingRow* at;
    const RatingRow* end;
    std::size_t run;
  };
  auto before = [](const Cursor& a, const Cursor& b) {
    if (a.at->user != b.at->user) return a.at->user < b.at->user;
    if (a.at->movie != b.at->movie) return a.at->movie < b.at->movie;
    return a.run < b.run;
  };
  std::vector<Cursor> heap;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (!runs[i]->empty()) heap.push_back({runs[i]->data(), runs[i]->data() + runs[i]->size(), i});
  }
  auto sift_down = [&](std::size_t i) {
    const std::size_t n = heap.size();
    const Cursor moving = heap[i];
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap[child + 1], heap[child])) ++child;
      if (!before(heap[child], moving)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = moving;
  };
  for (std::size_t i = heap.size() / 2; i-- > 0;) sift_down(i);
  // The merge fills blocks on one thread while `visit` (the database
  // writer) takes the previous ones on another: a pipeline of two serial
  // stages, so the writer never waits for the merge's comparisons.
  bool any = false;
  RatingRow prev{};
  std::vector<RatingRow> skipped;  // the first duplicates skipped, for the log
  auto merge_block = [&](tbb::flow_control& control) {
    std::vector<RatingRow> block;
    if (heap.empty()) {
      control.stop();
      return block;
    }
    block.reserve(kMergeBlockRows);
    while (!heap.empty() && block.size() < kMergeBlockRows) {
      Cursor& top = heap.front();
      const RatingRow& r = *top.at;
      if (any && prev.user == r.user && prev.movie == r.movie) {
        if (!config_.skip_bad_rows) duplicate_error(r);
        if (bad_.first.size() + skipped.size() < kBadRowSamples) {
          skipped.push_back(r);  // its line is looked up once the merge is done
        } else {
          ++bad_.count;  // past the messages the log shows
        }
      } else {
        block.push_back(r);
        prev = r;
        any = true;
      }
      if (++top.at == top.end) {
        std::vector<RatingRow>().swap(*runs[top.run]);  // done: give its memory back
        heap.front() = heap.back();
        heap.pop_back();
      }
      if (!heap.empty()) sift_down(0);
    }
    return block;
  };
  tbb::parallel_pipeline(kMergeBlocksAhead, tbb::make_filter<void, std::vector<RatingRow>>(
                                                tbb::filter_mode::serial_in_order, merge_block) &
                                                tbb::make_filter<std::vector<RatingRow>, void>(
                                                    tbb::filter_mode::serial_in_order,
                                                    [&](const std::vector<RatingRow>& block) {
                                                      for (const RatingRow& r : block) visit(r);
                                                    }));
  if (skipped.empty()) return;
  // The i-th skip of a pair is its (i+1)-th line in the file: the merge kept
  // the first occurrence.
  auto lines = lines_of(skipped);
  std::map<std::pair<std::int64_t, std::int64_t>, std::size_t> seen;
  for (const RatingRow& r : skipped) {
    const std::vector<std::int64_t>& at = lines[{r.user, r.movie}];
    const std::size_t i = ++seen[{r.user, r.movie}];
    const std::int64_t line = i < at.size() ? at[i] : 0;
    bad_.add(path_.string() + ":" + std::to_string(line) + ": " +
             duplicate_message(r, at.empty() ? 0 : at[0]));
  }
}

std::vector<RatingRow> RatingsReader::sorted_rows() {
  std::vector<RatingRow> rows;
  for_each_sorted([&](const RatingRow& r) { rows.push_back(r); });
  return rows;
}

RatingsFile read_ratings(const std::filesystem::path& path, const ImportConfig& config,
                         const std::unordered_set<std::int64_t>* known_movies) {
  RatingsReader reader(path, config, known_movies);
  RatingsFile out;
  out.rows = reader.sorted_rows();
  out.bad = reader.bad();
  return out;
}

MoviesFile read_movies(const std::filesystem::path& path, const ImportConfig& config) {
  CsvReader csv(path);
  csv.expect_header({"movieId", "title", "genres"});
  MoviesFile out;
  std::vector<std::string_view> f;
  std::string why;
  std::vector<std::int64_t> lines;
  auto bad = [&](std::string reason) {
    std::string msg = csv.name() + ":" + std::to_string(csv.line()) + ": " + reason;
    if (!config.skip_bad_rows) throw InputError(msg);
    out.bad.add(std::move(msg));
  };
  while (csv.next(f)) {
    if (f.size() != 3) {
      bad("expected 3 fields (movieId,title,genres), got " + std::to_string(f.size()));
      continue;
    }
    MovieRow m;
    if (!parse_id(f[0], "movieId", m.movie, why)) {
      bad(why);
      continue;
    }
    if (!is_valid_utf8(f[1]) || !is_valid_utf8(f[2])) {
      bad("title or genres is not valid UTF-8");
      continue;
    }
    if (f[1].empty()) {
      bad("title is empty");
      continue;
    }
    m.title.assign(f[1]);
    m.genres.assign(f[2]);
    out.rows.push_back(std::move(m));
    lines.push_back(csv.line());
  }
  std::vector<std::size_t> order(out.rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return out.rows[a].movie < out.rows[b].movie;
  });
  std::vector<MovieRow> sorted;
  sorted.reserve(order.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    std::size_t i = order[k];
    if (!sorted.empty() && sorted.back().movie == out.rows[i].movie) {
      std::string msg = path.string() + ":" + std::to_string(lines[i]) + ": duplicate movieId " +
                        std::to_string(out.rows[i].movie) + " (first at line " +
                        std::to_string(lines[order[k - 1]]) + ")";
      if (!config.skip_bad_rows) throw InputError(msg);
      out.bad.add(std::move(msg));
      continue;
    }
    sorted.push_back(std::move(out.rows[i]));
  }
  out.rows = std::move(sorted);
  return out;
}

}  // namespace recs
