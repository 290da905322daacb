// Seeded randomness that means the same thing with every standard library.
//
// std::uniform_int_distribution, std::uniform_real_distribution and
// std::shuffle are free to use any algorithm, so a seed would name a
// different model under libc++ than under libstdc++. Everything here draws
// from std::mt19937_64's raw output, whose sequence the standard fixes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>

namespace recs::random {

using Engine = std::mt19937_64;

// Independent streams from one configured seed. A model's initialisation
// uses the seed itself; the others are the seed xor a stream constant, so two
// streams never walk the same sequence.
enum class Stream : std::uint64_t {
  kShuffle = 0x9e3779b97f4a7c15ULL,          // training order (dot, deep, bpr)
  kValidationSplit = 0xc2b2ae3d27d4eb4fULL,  // train.validation_fraction's hold-out
};

inline Engine engine(std::uint64_t seed, Stream stream) {
  return Engine(seed ^ static_cast<std::uint64_t>(stream));
}

// Uniform in [0, n) by multiply-shift: one draw, bias below n / 2^64.
inline std::uint64_t below(Engine& rng, std::uint64_t n) {
  __extension__ using Uint128 = unsigned __int128;
  return static_cast<std::uint64_t>((static_cast<Uint128>(rng()) * n) >> 64);
}

// Uniform in [0, 1) on a 2^-24 grid, exactly representable as a float.
inline float unit_float(Engine& rng) { return static_cast<float>(rng() >> 40) * 0x1p-24f; }

// Uniform in [-scale, scale).
inline float symmetric(Engine& rng, float scale) { return (2.0f * unit_float(rng) - 1.0f) * scale; }

// Fisher-Yates from the back, drawing with below().
template <typename T>
void shuffle(T* data, std::size_t size, Engine& rng) {
  for (std::size_t i = size; i > 1; --i) {
    std::swap(data[i - 1], data[static_cast<std::size_t>(below(rng, i))]);
  }
}

template <typename Container>
void shuffle(Container& c, Engine& rng) {
  shuffle(c.data(), c.size(), rng);
}

}  // namespace recs::random
