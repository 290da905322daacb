// util/random.h: the one generator, its streams and its draws.
#include "util/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <vector>

namespace recs {
namespace {

using random::Rng;
using random::Stream;

static_assert(std::uniform_random_bit_generator<Rng>);

TEST(Random, OutputsArePinnedForEveryStandardLibrary) {
  // From an independent Python implementation of xoshiro256** and its
  // SplitMix64 seeding (whose xoshiro256** gives the published 11520, 0,
  // 1509978240, 1215971899390074240 from the state {1, 2, 3, 4}).
  Rng a(42, Stream::kShuffle);
  EXPECT_EQ(a(), 3893904220241883002ULL);
  EXPECT_EQ(a(), 9984380279382909502ULL);
  EXPECT_EQ(a(), 4067145036781576441ULL);
  Rng b(7, Stream::kGenerateUsers, 3);
  EXPECT_EQ(b(), 2850846515320015199ULL);
  EXPECT_EQ(b(), 2295206969246341018ULL);
  Rng c(3, Stream::kInit);
  std::vector<std::uint64_t> below;
  for (int i = 0; i < 5; ++i) below.push_back(random::below(c, 10));
  EXPECT_EQ(below, (std::vector<std::uint64_t>{7, 0, 8, 9, 1}));
}

TEST(Random, StreamsAndIndicesAreIndependent) {
  // The same seed under another stream or index starts elsewhere; the same
  // (seed, stream, index) repeats.
  const std::uint64_t first = Rng(5, Stream::kShuffle)();
  EXPECT_EQ(Rng(5, Stream::kShuffle)(), first);
  EXPECT_NE(Rng(5, Stream::kValidationSplit)(), first);
  EXPECT_NE(Rng(5, Stream::kShuffle, 1)(), first);
  EXPECT_NE(Rng(6, Stream::kShuffle)(), first);
  // Neighbouring indices (one stream per user) are uncorrelated: the low
  // bits of their first outputs agree about half the time.
  int agree = 0;
  for (std::uint64_t i = 0; i < 4000; ++i) {
    agree +=
        ((Rng(1, Stream::kGenerateUsers, i)() ^ Rng(1, Stream::kGenerateUsers, i + 1)()) & 1) == 0;
  }
  EXPECT_NEAR(agree / 4000.0, 0.5, 0.04);
}

TEST(Random, UniformDrawsStayInTheirRanges) {
  Rng rng(9, Stream::kBenchData);
  double sum = 0;
  std::vector<int> counts(7, 0);
  constexpr int kDraws = 70000;
  for (int i = 0; i < kDraws; ++i) {
    const double d = random::unit_double(rng);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    const double o = random::unit_open(rng);
    ASSERT_GT(o, 0.0);
    ASSERT_LT(o, 1.0);
    const float f = random::unit_float(rng);
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    ASSERT_EQ(f * 0x1p24f, std::floor(f * 0x1p24f));  // on the 2^-24 grid
    const float s = random::symmetric(rng, 0.5f);
    ASSERT_GE(s, -0.5f);
    ASSERT_LT(s, 0.5f);
    sum += d;
    ++counts[random::below(rng, 7)];
  }
  EXPECT_NEAR(sum / kDraws, 0.5, 0.005);
  for (int c : counts) EXPECT_NEAR(c, kDraws / 7, 400);  // sd ~93
  EXPECT_EQ(random::below(rng, 1), 0u);
}

TEST(Random, NormalAndExponentialHaveTheirMoments) {
  Rng rng(11, Stream::kBenchData);
  constexpr int kDraws = 200000;
  double sum = 0, sum2 = 0, exp_sum = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = random::normal(rng);
    sum += x;
    sum2 += x * x;
    const double e = random::exponential(rng);
    ASSERT_GT(e, 0.0);
    exp_sum += e;
  }
  EXPECT_NEAR(sum / kDraws, 0.0, 0.01);      // sd of the mean 0.0022
  EXPECT_NEAR(sum2 / kDraws, 1.0, 0.015);    // sd 0.0032
  EXPECT_NEAR(exp_sum / kDraws, 1.0, 0.01);  // sd 0.0022
}

TEST(Random, ShuffleIsAUniformPermutation) {
  Rng rng(13, Stream::kShuffle);
  std::vector<int> p(50);
  for (int i = 0; i < 50; ++i) p[static_cast<std::size_t>(i)] = i;
  random::shuffle(p, rng);
  std::vector<int> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  EXPECT_FALSE(std::is_sorted(p.begin(), p.end()));
  // Each of the 6 orders of 3 elements about equally often.
  std::vector<int> seen(6, 0);
  for (int t = 0; t < 6000; ++t) {
    int q[3] = {0, 1, 2};
    random::shuffle(q, 3, rng);
    ++seen[static_cast<std::size_t>(q[0] * 2 + (q[1] > q[2]))];
  }
  for (int c : seen) EXPECT_NEAR(c, 1000, 130);  // sd ~29
}

}  // namespace
}  // namespace recs
