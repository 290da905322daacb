// Which users get personal rows (models/signal.h) and each model type's rule
// (models/registry.h).
#include "models/signal.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "models/registry.h"

namespace recs {
namespace {

SignalRule implicit_rule() {
  SignalRule r;
  r.needs_positive = true;
  r.positive_threshold = 3.5;
  r.positive_above_zero = true;
  r.score_floor = 1e-6;
  return r;
}

TopNBlock block(int top_n, std::vector<std::vector<float>> lists) {
  TopNBlock b;
  b.user_begin = 10;
  b.user_end = 10 + static_cast<int>(lists.size());
  b.top_n = top_n;
  for (const auto& l : lists) {
    for (int k = 0; k < top_n; ++k) {
      const bool set = k < static_cast<int>(l.size());
      b.items.push_back(set ? k : -1);
      b.scores.push_back(set ? l[static_cast<std::size_t>(k)] : 0.0f);
    }
    b.counts.push_back(static_cast<std::int32_t>(l.size()));
  }
  return b;
}

TEST(Signal, AnImplicitUserNeedsOnePositive) {
  // User 0: all low; 1: one at the threshold; 2: nothing rated; 3: 4 and 0.5.
  const std::vector<std::int64_t> indptr = {0, 3, 5, 5, 7};
  const std::vector<float> values = {2.5f, 1.0f, 0.5f, 3.0f, 3.5f, 4.0f, 0.5f};
  EXPECT_EQ(users_with_positive(implicit_rule(), indptr, values), (std::vector<char>{0, 1, 0, 1}));
  // A rating model needs none: even a user with no rating keeps its rows.
  EXPECT_EQ(users_with_positive(SignalRule{}, indptr, values), (std::vector<char>{1, 1, 1, 1}));
}

TEST(Signal, AboveZeroCountsOnlyWhenAsked) {
  SignalRule r;
  r.needs_positive = true;
  r.positive_threshold = -1;  // e.g. a -1/0/1 map with a threshold of -1
  const std::vector<std::int64_t> indptr = {0, 1, 2};
  const std::vector<float> values = {-1.0f, 0.0f};
  EXPECT_EQ(users_with_positive(r, indptr, values), (std::vector<char>{1, 1}));
  r.positive_above_zero = true;
  EXPECT_EQ(users_with_positive(r, indptr, values), (std::vector<char>{0, 0}));
}

TEST(Signal, AUserBelowTheFloorLosesItsWholeList) {
  // Saturn 3 at 1e-12 for a user with no signal; an ordinary user whose
  // later ranks fall below the floor keeps them all.
  TopNBlock b = block(3, {{0.8f, 0.5f, 1e-7f}, {1e-12f, 5e-13f, 1e-13f}, {}, {2e-6f}});
  const SignalRule r = implicit_rule();
  ASSERT_TRUE(any_below_floor(r, b));
  EXPECT_EQ(drop_below_floor(r, b), 1);
  EXPECT_EQ(b.counts, (std::vector<std::int32_t>{3, 0, 0, 1}));
  EXPECT_FALSE(any_below_floor(r, b));
  EXPECT_EQ(drop_below_floor(r, b), 0);
}

TEST(Signal, NoFloorDropsNothingAndNonFiniteIsLeftToTheGate) {
  TopNBlock b = block(2, {{-5.0f, -6.0f}, {std::nanf(""), 1.0f}});
  EXPECT_FALSE(any_below_floor(SignalRule{}, b));
  EXPECT_EQ(drop_below_floor(SignalRule{}, b), 0);
  EXPECT_EQ(drop_below_floor(implicit_rule(), b), 1);  // -5 < 1e-6; NaN stays
  EXPECT_EQ(b.counts, (std::vector<std::int32_t>{0, 2}));
}

TEST(Signal, EachTypeDeclaresItsRule) {
  const ModelConfig config;
  for (const char* type : {"dot", "deep", "biased_mf"}) {
    const SignalRule r = signal_rule(config, type);
    EXPECT_FALSE(r.needs_positive) << type;
    EXPECT_EQ(r.score_floor, -std::numeric_limits<double>::infinity()) << type;
  }
  const SignalRule als = signal_rule(config, "als");
  EXPECT_TRUE(als.needs_positive);
  EXPECT_TRUE(als.positive_above_zero);
  EXPECT_EQ(als.positive_threshold, 3.5);
  EXPECT_EQ(als.score_floor, 1e-6);
  const SignalRule bpr = signal_rule(config, "bpr");
  EXPECT_TRUE(bpr.needs_positive);
  EXPECT_EQ(bpr.positive_threshold, 3.5);
  EXPECT_EQ(bpr.score_floor, -std::numeric_limits<double>::infinity());
}

}  // namespace
}  // namespace recs
