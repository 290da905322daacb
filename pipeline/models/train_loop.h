// The one epoch loop every model trains with: per-epoch report and log line,
// the divergence check, and early stopping on the validation error with the
// best epoch kept (Keras's EarlyStopping(patience, restore_best_weights)). A
// model supplies what differs as callbacks: one pass over its data, its
// validation error, and how to keep and bring back its best parameters.
#pragma once

#include <functional>
#include <string>

#include "models/model.h"

namespace recs {

struct EpochLoop {
  int epochs = 1;
  // Keep the parameters of the epoch with the lowest validation MSE (needs a
  // validation set): training ends with them instead of the last epoch's.
  bool keep_best = false;
  // With keep_best: stop once the validation MSE has not improved for this
  // many epochs; 0 = run every epoch.
  int patience = 0;
  // Convergence: stop once a pass lowered the training loss by less than
  // this fraction of the previous pass's loss, (prev - loss) < tolerance *
  // |prev|; 0 = run every epoch.
  double tolerance = 0;
  std::string unit = "epoch";  // how log lines and errors name a pass ("iteration")
  std::string divergence_hint = "lower model.learning_rate";
};

struct EpochCallbacks {
  // One pass (1-based epoch); returns its mean training loss.
  std::function<double(int epoch)> run_epoch;
  // The validation MSE after the pass; empty when there is no validation set.
  std::function<double()> validation_mse;
  // keep_best: copy the current parameters as the best so far, and bring that
  // copy back at the end. Not called when the last epoch is the best.
  std::function<void()> snapshot;
  std::function<void()> restore;
  // Extra text for the epoch's log line (e.g. "lr 0.01"); may be empty.
  std::function<std::string()> note;
};

// Runs up to loop.epochs passes, logging each. Throws Error(kConfig) when the
// loss (or the validation MSE) is not finite.
TrainReport train_epochs(const EpochLoop& loop, const EpochCallbacks& callbacks);

// "epoch 3/10: loss 0.8123, val_mse 0.4521, val_rmse 0.6724, lr 0.01 (1.52 s)".
std::string format_epoch(const EpochReport& e, int epochs, const std::string& unit,
                         const std::string& note);

}  // namespace recs
