// The paragraph a recorded run ends with on stderr, and the same figures as
// JSON for runs.summary: what was imported, trained, judged by the quality
// gate and published, with the churn against the replaced set and the
// catalogue coverage. Each stage that ran fills its part.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "app/gate.h"
#include "app/import.h"
#include "app/score.h"
#include "app/train.h"

namespace recs {

struct RunSummary {
  std::optional<ImportSummary> import;
  std::optional<TrainSummary> train;
  std::optional<GateVerdict> gate;
  std::optional<ScoreSummary> publish;
};

// One line: "<status> in <seconds> s: imported ...; trained ...; quality
// gate ...; published ..., churn ..., coverage ...". The stages `command`
// runs ("run": import, train and score) that did not get to record their
// figures are named as not done.
std::string summary_paragraph(const RunSummary& s, std::string_view status, double seconds,
                              std::string_view command);

// {"import":{...},"train":{...},"gate":{...},"publish":{...}}, the parts
// that ran; NaN figures are null.
std::string summary_json(const RunSummary& s);

}  // namespace recs
