// Benchmark of the scoring kernels: random vectors of a given shape (or a
// stored model's vectors), optionally a set of rated movies per user masked,
// timed end to end.
#pragma once

#include <cstdint>
#include <string>

namespace recs {

struct ScoreBenchOptions {
  int users = 162541;  // ML-25M size
  int movies = 59047;
  int factors = 64;
  int top_n = 100;
  int threads = 0;  // 0 = all cores
  std::uint64_t seed = 42;
  double rated_fraction = 0.0;   // share of movies each user has "rated", masked
  int user_block = 0;            // 0 = TopNOptions default
  int movie_block = 0;           // 0 = TopNOptions default
  std::string method = "exact";  // "exact" (score_top_n) or "ann" (score_top_n_ann)
  int nprobe = 0;                // ann: clusters scanned per user, 0 = AnnOptions default
  int clusters = 0;              // ann: clusters of the index, 0 = auto
  // A SQLite database whose latest stored model supplies the user and movie
  // vectors (users, movies and factors are then the model's); empty = random.
  std::string vectors_from;
  // With vectors_from: mask the movies each user rated in that database, as
  // the score stage does (instead of rated_fraction).
  bool mask_rated = false;
  // ann: users whose exact top-N the recall is measured on; 0 = all users,
  // which also times a full exact run on the same vectors (exact_seconds).
  int recall_sample = 0;
  // exact: score every pair (TopNOptions::prune off).
  bool plain = false;
  // exact: after the timed (pruned) run, run the plain kernel too and
  // compare (see bench_score).
  bool compare_plain = false;
  // exact, with vectors_from and mask_rated: then explain every list with
  // the stored ratings (scoring/explain.h), as the score stage does, and once
  // more looking among every liked movie (the rule before the bound).
  bool explain = false;
  // > 0: time similar movies instead (scoring/similar.h): top `similar` of
  // every movie by cosine among all movies, pruned by the angular bound (or
  // plain with `plain`; both, alternating, with compare_plain).
  int similar = 0;
  // similar: (pruned, plain) rounds with compare_plain, runs otherwise.
  int rounds = 1;
};

// Runs the chosen kernel once with a sink that only consumes the blocks and
// returns one JSON line: {"users":..,"movies":..,"factors":..,"top_n":..,
// "threads":..,"seconds":..,"gflops":..,"peak_rss_mb":..,...}. Only the
// scoring is timed (for ann including the index build). gflops is the exact
// product's flop count over seconds. For ann the line adds "nprobe",
// "clusters", "recall_at_n" (mean over users of |ann top-N and exact top-N| /
// |exact top-N|), "recall_users" and "exact_seconds" (the exact kernel on the
// recall users). For exact the line adds "pruned" and "skipped_share" (user x
// movie pairs the norm bound skipped / all pairs), and with compare_plain
// "plain_seconds", "plain_item_mismatched_users" (lists that differ in an
// item), "plain_bit_mismatched_users" (in an item or a score's last bits: the
// products are tiled differently) and "plain_max_score_diff". With explain
// it adds "explain_cpu_seconds" (CPU time of the threads explaining, summed,
// so other work on the machine does not inflate it), "explain_seconds"
// (wall), the same two for every liked movie ("explain_all_..."), and
// "explain_changed_share" (entries the two explain differently).
// With similar the line is {"movies":..,"factors":..,"similar_k":..,
// "threads":..,"pruned":..,"seconds":[per round],"skipped_share":..} and
// with compare_plain also "plain_seconds":[per round],
// "plain_item_mismatched_movies" and "plain_bit_mismatched_movies" (lists
// that differ from the plain scan's in an item or a score's bits).
std::string bench_score(const ScoreBenchOptions& options);

}  // namespace recs
