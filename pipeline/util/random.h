// Seeded randomness: one generator, one way to derive independent streams
// from a configured seed, and the draws, all written out so that a seed means
// the same thing with every standard library (std's distributions and
// std::shuffle are free to use any algorithm).
//
// The generator is xoshiro256** (Blackman and Vigna): 32 bytes of state and a
// few instructions a draw. Its state is derived from (seed, stream, index)
// by the SplitMix64 finaliser, so each purpose gets its own stream from one
// seed, and work split into pieces (e.g. one stream per user) draws the same
// numbers whichever thread does which piece, in any order.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <utility>

namespace recs::random {

// The purposes that draw from a configured seed, each its own stream. The
// values are part of what a seed means: changing one changes every result
// drawn from that stream.
enum class Stream : std::uint64_t {
  // data/generate.cpp's synthetic data set.
  kGenerateMovies = 1,
  kGenerateTitles = 2,
  kGenerateActivity = 3,
  kGenerateUsers = 4,  // index: the user
  // A model's initial parameters (and biased_mf's training order).
  kInit = 5,
  kShuffle = 6,            // training order and bpr's negatives (dot, deep, bpr)
  kValidationSplit = 7,    // train.validation_fraction's hold-out
  kEvaluationSplit = 8,    // evaluate.split: random's hold-out
  kKMeans = 9,             // k-means++ seeding
  kAnnSample = 10,         // the movies the ann index's k-means trains on
  kBenchData = 11,         // benchmarks' random inputs (index: a reader process)
  kBenchSample = 12,       // bench score's recall users
  kEvaluationSample = 13,  // evaluate.sample_users: the users ranking metrics are measured on
};

// The SplitMix64 finaliser: a bijection of 64-bit words whose outputs for
// nearby inputs look unrelated.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// xoshiro256** seeded from (seed, stream, index). A uniform random bit
// generator in the standard's sense, but use the draws below, not std's
// distributions.
class Rng {
 public:
  using result_type = std::uint64_t;

  Rng(std::uint64_t seed, Stream stream, std::uint64_t index = 0) {
    std::uint64_t s =
        mix64(seed ^ mix64(static_cast<std::uint64_t>(stream) * 0x9E3779B97F4A7C15ULL + index));
    for (auto& w : s_) {
      s += 0x9E3779B97F4A7C15ULL;
      w = mix64(s);
    }
  }

  result_type operator()() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

 private:
  friend double normal(Rng& rng);
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_;
  // The second value of normal()'s last Box-Muller pair, if not yet used.
  double spare_ = 0;
  bool has_spare_ = false;
};

// Uniform in [0, n) by multiply-shift: one draw, bias below n / 2^64.
inline std::uint64_t below(Rng& rng, std::uint64_t n) {
  __extension__ using Uint128 = unsigned __int128;
  return static_cast<std::uint64_t>((static_cast<Uint128>(rng()) * n) >> 64);
}

// Uniform in [0, 1) on a 2^-53 grid.
inline double unit_double(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Uniform in (0, 1), safe for log.
inline double unit_open(Rng& rng) { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; }

// Uniform in [0, 1) on a 2^-24 grid, exactly representable as a float.
inline float unit_float(Rng& rng) { return static_cast<float>(rng() >> 40) * 0x1p-24f; }

// Uniform in [-scale, scale).
inline float symmetric(Rng& rng, float scale) { return (2.0f * unit_float(rng) - 1.0f) * scale; }

// Exponential with mean 1.
inline double exponential(Rng& rng) { return -std::log(unit_open(rng)); }

// Standard normal, by Box-Muller: every other call returns the second value
// of the pair the previous one drew.
inline double normal(Rng& rng) {
  if (rng.has_spare_) {
    rng.has_spare_ = false;
    return rng.spare_;
  }
  const double r = std::sqrt(-2.0 * std::log(unit_open(rng)));
  const double theta = 2.0 * std::numbers::pi * unit_double(rng);
  rng.spare_ = r * std::sin(theta);
  rng.has_spare_ = true;
  return r * std::cos(theta);
}

// Fisher-Yates from the back, drawing with below().
template <typename T>
void shuffle(T* data, std::size_t size, Rng& rng) {
  for (std::size_t i = size; i > 1; --i) {
    std::swap(data[i - 1], data[static_cast<std::size_t>(below(rng, i))]);
  }
}

template <typename Container>
void shuffle(Container& c, Rng& rng) {
  shuffle(c.data(), c.size(), rng);
}

}  // namespace recs::random
