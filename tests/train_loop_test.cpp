// The one epoch loop: reports, early stopping with the best epoch kept, and
// the divergence check, on scripted losses and validation errors.
#include "models/train_loop.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "util/error.h"

namespace recs {
namespace {

// Callbacks replaying `val` (validation MSE per epoch; empty = no validation
// set) and recording which epochs were snapshot and whether restore ran.
struct Script {
  std::vector<double> loss;
  std::vector<double> val;
  int current = 0;
  std::vector<int> snapshots;
  int restored_from = 0;  // the epoch of the snapshot restored, 0 = none

  EpochCallbacks callbacks() {
    EpochCallbacks cb;
    cb.run_epoch = [this](int epoch) {
      current = epoch;
      return loss.empty() ? 1.0 / epoch : loss[static_cast<std::size_t>(epoch - 1)];
    };
    if (!val.empty()) {
      cb.validation_mse = [this] { return val[static_cast<std::size_t>(current - 1)]; };
    }
    cb.snapshot = [this] { snapshots.push_back(current); };
    cb.restore = [this] { restored_from = snapshots.empty() ? -1 : snapshots.back(); };
    return cb;
  }
};

EpochLoop loop(int epochs, bool keep_best, int patience) {
  EpochLoop l;
  l.epochs = epochs;
  l.keep_best = keep_best;
  l.patience = patience;
  return l;
}

TEST(TrainLoop, ReportsEveryEpoch) {
  Script s;
  s.val = {0.9, 0.8, 0.7};
  const TrainReport r = train_epochs(loop(3, false, 0), s.callbacks());
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_EQ(r.epochs[1].epoch, 2);
  EXPECT_DOUBLE_EQ(r.epochs[1].loss, 0.5);
  EXPECT_DOUBLE_EQ(r.epochs[2].val_mse, 0.7);
  EXPECT_DOUBLE_EQ(r.epochs[2].val_rmse, std::sqrt(0.7));
  EXPECT_EQ(r.kept_epoch, 0);
  EXPECT_TRUE(s.snapshots.empty());
  Script blind;
  const TrainReport b = train_epochs(loop(2, true, 1), blind.callbacks());
  ASSERT_EQ(b.epochs.size(), 2u);
  EXPECT_TRUE(std::isnan(b.epochs[0].val_mse) && std::isnan(b.epochs[0].val_rmse));
  EXPECT_EQ(b.kept_epoch, 0);  // nothing to keep the best by
}

TEST(TrainLoop, StopsAfterPatienceAndKeepsTheBestEpoch) {
  Script s;
  s.val = {0.9, 0.6, 0.7, 0.65, 0.8, 0.5};
  const TrainReport r = train_epochs(loop(6, true, 2), s.callbacks());
  ASSERT_EQ(r.epochs.size(), 4u);  // 3 and 4 did not beat epoch 2
  EXPECT_EQ(r.kept_epoch, 2);
  EXPECT_EQ(s.snapshots, (std::vector<int>{1, 2}));
  EXPECT_EQ(s.restored_from, 2);
}

TEST(TrainLoop, PatienceZeroRunsEveryEpochAndStillKeepsTheBest) {
  Script s;
  s.val = {0.9, 0.6, 0.7, 0.8};
  const TrainReport r = train_epochs(loop(4, true, 0), s.callbacks());
  EXPECT_EQ(r.epochs.size(), 4u);
  EXPECT_EQ(r.kept_epoch, 2);
  EXPECT_EQ(s.restored_from, 2);
}

TEST(TrainLoop, TheLastEpochBestNeedsNoCopy) {
  Script s;
  s.val = {0.9, 0.8, 0.7};
  const TrainReport r = train_epochs(loop(3, true, 1), s.callbacks());
  EXPECT_EQ(r.kept_epoch, 0);
  EXPECT_EQ(s.snapshots, (std::vector<int>{1, 2}));  // not 3: training ends with it anyway
  EXPECT_EQ(s.restored_from, 0);
}

TEST(TrainLoop, NonFiniteLossOrValidationIsDivergence) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Script s;
  s.loss = {1.0, nan, 1.0};
  EpochLoop l = loop(3, false, 0);
  l.unit = "iteration";
  l.divergence_hint = "raise model.l2";
  try {
    train_epochs(l, s.callbacks());
    FAIL() << "diverged training accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kGate);
    EXPECT_EQ(std::string(e.what()),
              "training diverged at iteration 2 (loss is not finite); raise model.l2");
  }
  Script v;
  v.val = {0.5, std::numeric_limits<double>::infinity()};
  EXPECT_THROW(train_epochs(loop(2, false, 0), v.callbacks()), Error);
}

TEST(TrainLoop, LogLine) {
  EpochReport e;
  e.epoch = 3;
  e.loss = 0.81234;
  e.val_mse = 0.45;
  e.val_rmse = 0.67082;
  e.seconds = 1.5;
  EXPECT_EQ(format_epoch(e, 10, "epoch", "lr 0.01"),
            "epoch 3/10: loss 0.8123, val_mse 0.4500, val_rmse 0.6708, lr 0.01 (1.50 s)");
  e.val_mse = e.val_rmse = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(format_epoch(e, 10, "iteration", ""), "iteration 3/10: loss 0.8123 (1.50 s)");
}

}  // namespace
}  // namespace recs
