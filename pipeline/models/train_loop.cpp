#include "models/train_loop.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"

namespace recs {

std::string format_epoch(const EpochReport& e, int epochs, const std::string& unit,
                         const std::string& note) {
  char buf[160];
  if (std::isnan(e.val_mse)) {
    std::snprintf(buf, sizeof buf, "%s %d/%d: loss %.4f", unit.c_str(), e.epoch, epochs, e.loss);
  } else {
    std::snprintf(buf, sizeof buf, "%s %d/%d: loss %.4f, val_mse %.4f, val_rmse %.4f", unit.c_str(),
                  e.epoch, epochs, e.loss, e.val_mse, e.val_rmse);
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, " (%.2f s)", e.seconds);
  return buf + (note.empty() ? std::string() : ", " + note) + secs;
}

TrainReport train_epochs(const EpochLoop& loop, const EpochCallbacks& cb) {
  const bool validate = static_cast<bool>(cb.validation_mse);
  const bool track = loop.keep_best && validate;
  double best_mse = std::numeric_limits<double>::infinity();
  int best_epoch = 0;
  TrainReport report;
  Progress progress("train", loop.epochs, loop.unit + "s");
  for (int epoch = 1; epoch <= loop.epochs; ++epoch) {
    log::Stopwatch watch;
    EpochReport e;
    e.epoch = epoch;
    e.loss = cb.run_epoch(epoch);
    if (validate) {
      e.val_mse = cb.validation_mse();
      e.val_rmse = std::sqrt(e.val_mse);
    } else {
      e.val_mse = e.val_rmse = std::numeric_limits<double>::quiet_NaN();
    }
    e.seconds = watch.seconds();
    log::info(format_epoch(e, loop.epochs, loop.unit, cb.note ? cb.note() : std::string()));
    progress.set(epoch);
    report.epochs.push_back(e);
    if (!std::isfinite(e.loss) || (validate && !std::isfinite(e.val_mse))) {
      // A model with non-finite values is refused (exit 6), as the vectors
      // check after training refuses one.
      throw GateError("training diverged at " + loop.unit + " " + std::to_string(epoch) +
                      " (loss is not finite); " + loop.divergence_hint);
    }
    if (track) {
      if (e.val_mse < best_mse) {
        best_mse = e.val_mse;
        best_epoch = epoch;
        if (epoch < loop.epochs) cb.snapshot();
      } else if (loop.patience > 0 && epoch - best_epoch >= loop.patience) {
        log::info("early stop: validation MSE has not improved for " +
                  std::to_string(loop.patience) + " " + loop.unit + "s");
        break;
      }
    }
    if (loop.tolerance > 0 && report.epochs.size() >= 2 && epoch < loop.epochs) {
      const double prev = report.epochs[report.epochs.size() - 2].loss;
      if (prev - e.loss < loop.tolerance * std::abs(prev)) {
        char msg[160];
        std::snprintf(msg, sizeof msg,
                      "converged: the loss fell by %.3g %% over %s %d, below the tolerance "
                      "%.3g %%",
                      100.0 * (prev - e.loss) / std::abs(prev), loop.unit.c_str(), epoch,
                      100.0 * loop.tolerance);
        log::info(msg);
        break;
      }
    }
  }
  // Keep the best epoch's parameters (the snapshot skipped the copy when the
  // last epoch was the best).
  if (track && !report.epochs.empty() && best_epoch != report.epochs.back().epoch) {
    cb.restore();
    report.kept_epoch = best_epoch;
    char msg[96];
    std::snprintf(msg, sizeof msg, "keeping %s %d, the best on validation (val_mse %.4f)",
                  loop.unit.c_str(), best_epoch, best_mse);
    log::info(msg);
  }
  return report;
}

}  // namespace recs
