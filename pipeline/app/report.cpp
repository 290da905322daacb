#include "app/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "app/serving.h"
#include "db/database.h"
#include "db/sqlite.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

constexpr int kWidth = 560, kHeight = 240;                       // one chart
constexpr int kLeft = 56, kRight = 16, kTop = 30, kBottom = 40;  // its margins
constexpr int kScoreBins = 40;

// Colours: the model and the popularity baseline the same in every chart,
// each other chart's own (tests/report_e2e_test.cpp finds each chart in a
// screenshot by them).
constexpr const char* kModelColour = "#1f77b4";
constexpr const char* kPopularityColour = "#ff7f0e";
constexpr const char* kChurnColour = "#9467bd";
constexpr const char* kLossColour = "#2ca02c";
constexpr const char* kValidationColour = "#d62728";
constexpr const char* kScoreColour = "#8c564b";
// The stages of a run, as runs.timings names them; their parts (train_fit,
// score_load, ...) are left out, they would be counted twice.
struct StageColour {
  const char* stage;
  const char* colour;
};
constexpr StageColour kStages[] = {
    {"import", "#17becf"},  {"evaluate", "#bcbd22"}, {"train", "#e377c2"},     {"score", "#7f7f7f"},
    {"publish", "#8c6d31"}, {"rollback", "#637939"}, {"checkpoint", "#393b79"}};

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (std::abs(v) < 1e-9) return "0";  // a bin edge at 4e-12 reads as 0
  if (std::abs(v) >= 1000 || v == std::floor(v)) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

struct Series {
  std::string name;
  std::string colour;
  std::vector<std::optional<double>> values;  // one per x position
};

// The frame shared by the charts: title, y axis from 0 to `top`, x labels.
struct Frame {
  double top = 1;
  std::vector<std::string> x_labels;
  bool slots = false;  // bars: position i is the centre of slot i

  double x(std::size_t i) const {
    const double span = kWidth - kLeft - kRight;
    if (slots) {
      return kLeft + span * (static_cast<double>(i) + 0.5) /
                         static_cast<double>(std::max<std::size_t>(1, x_labels.size()));
    }
    return x_labels.size() <= 1
               ? kLeft + span / 2
               : kLeft + span * static_cast<double>(i) / static_cast<double>(x_labels.size() - 1);
  }
  double y(double v) const {
    return kTop + (kHeight - kTop - kBottom) * (1 - std::clamp(v / top, 0.0, 1.0));
  }

  std::string open(std::string_view title, std::string_view x_title) const {
    std::string s = fmt::format(
        "<svg width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\"><title>{}</title>"
        "<text x=\"{}\" y=\"18\" class=\"t\">{}</text>",
        kWidth, kHeight, kWidth, kHeight, escape(title), kLeft, escape(title));
    for (int i = 0; i <= 4; ++i) {
      const double v = top * i / 4;
      s += fmt::format(
          "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" class=\"g\"/>"
          "<text x=\"{}\" y=\"{:.1f}\" class=\"a\" text-anchor=\"end\">{}</text>",
          kLeft, kWidth - kRight, y(v), y(v), kLeft - 6, y(v) + 4, number(v));
    }
    const std::size_t step = std::max<std::size_t>(1, x_labels.size() / 10);
    for (std::size_t i = 0; i < x_labels.size(); i += step) {
      s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"a\" text-anchor=\"middle\">{}</text>",
                       x(i), kHeight - kBottom + 16, escape(x_labels[i]));
    }
    s += fmt::format("<text x=\"{}\" y=\"{}\" class=\"a\" text-anchor=\"middle\">{}</text>",
                     (kLeft + kWidth - kRight) / 2, kHeight - 6, escape(x_title));
    return s;
  }
};

std::string legend(const std::vector<Series>& series) {
  std::string s = "<div class=\"l\">";
  for (const auto& se : series) {
    s += fmt::format("<span><i style=\"background:{}\"></i>{}</span>", se.colour, escape(se.name));
  }
  return s + "</div>";
}

std::string empty_chart(std::string_view title, std::string_view why) {
  return fmt::format("<figure><h3>{}</h3><p class=\"n\">{}</p></figure>", escape(title),
                     escape(why));
}

// A line through the known points, with a square marker at each.
std::string line_chart(std::string_view title, std::string_view x_title,
                       const std::vector<std::string>& x_labels,
                       const std::vector<Series>& series) {
  Frame f{0, x_labels, false};
  for (const auto& se : series) {
    for (const auto& v : se.values) {
      if (v && std::isfinite(*v)) f.top = std::max(f.top, *v);
    }
  }
  if (f.top <= 0) return empty_chart(title, "no figures recorded yet");
  f.top *= 1.1;
  std::string s = "<figure>" + f.open(title, x_title);
  for (const auto& se : series) {
    std::string points;
    for (std::size_t i = 0; i < se.values.size(); ++i) {
      if (se.values[i] && std::isfinite(*se.values[i])) {
        points += fmt::format("{:.1f},{:.1f} ", f.x(i), f.y(*se.values[i]));
      }
    }
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
                     points, se.colour);
    for (std::size_t i = 0; i < se.values.size(); ++i) {
      if (se.values[i] && std::isfinite(*se.values[i])) {
        s += fmt::format(
            "<rect x=\"{:.0f}\" y=\"{:.0f}\" width=\"7\" height=\"7\" fill=\"{}\" "
            "shape-rendering=\"crispEdges\"><title>{} {}: {}</title></rect>",
            f.x(i) - 3, f.y(*se.values[i]) - 3, se.colour, escape(se.name), escape(x_labels[i]),
            number(*se.values[i]));
      }
    }
  }
  return s + "</svg>" + legend(series) + "</figure>";
}

// Stacked bars, one per x position.
std::string bar_chart(std::string_view title, std::string_view x_title,
                      const std::vector<std::string>& x_labels, const std::vector<Series>& series) {
  Frame f{0, x_labels, true};
  for (std::size_t i = 0; i < x_labels.size(); ++i) {
    double sum = 0;
    for (const auto& se : series) sum += se.values[i].value_or(0);
    f.top = std::max(f.top, sum);
  }
  if (f.top <= 0) return empty_chart(title, "no figures recorded yet");
  f.top *= 1.1;
  const double span = kWidth - kLeft - kRight;
  const double slot = span / static_cast<double>(std::max<std::size_t>(1, x_labels.size()));
  const double bar = std::max(2.0, slot * 0.7);
  std::string s = "<figure>" + f.open(title, x_title);
  for (std::size_t i = 0; i < x_labels.size(); ++i) {
    double base = 0;
    const double cx = f.x(i);
    for (const auto& se : series) {
      const double v = se.values[i].value_or(0);
      if (v <= 0) continue;
      const double y0 = f.y(base), y1 = f.y(base + v);
      s += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" "
          "shape-rendering=\"crispEdges\"><title>{} {}: {}</title></rect>",
          cx - bar / 2, y1, bar, std::max(1.0, y0 - y1), se.colour, escape(se.name),
          escape(x_labels[i]), number(v));
      base += v;
    }
  }
  return s + "</svg>" + (series.size() > 1 ? legend(series) : std::string()) + "</figure>";
}

std::string cell(const std::optional<double>& v) { return v ? number(*v) : "-"; }

}  // namespace

void write_report(const Config& config, const std::filesystem::path& out,
                  const ReportOptions& options) {
  auto database = db::open_read_only(config.database);
  auto history = db::sqlite_run_history(*database);
  const int ndcg_k = config.evaluate.k.empty() ? 10 : config.evaluate.k.front();
  const int recall_k = config.evaluate.k.empty() ? 10 : config.evaluate.k.back();
  const std::vector<db::RunHistoryRow> runs = history->recent(options.runs, ndcg_k, recall_k);
  const auto [training_run, epochs] = history->last_training();
  // The live set's scores where the web app reads them; a server that
  // cannot be read leaves that chart saying so, the rest of the page stands.
  db::ScoreHistogram scores;
  std::string scores_missing = "nothing published yet";
  try {
    scores = live_score_histogram(config, *database, kScoreBins);
  } catch (const DatabaseError& e) {
    scores_missing = e.what();
    log::warn("report: {}", e.what());
  }

  std::vector<std::string> run_labels;
  for (const auto& r : runs) run_labels.push_back(std::to_string(r.run_id));
  // Quality: the runs that evaluated.
  std::vector<std::string> eval_labels;
  std::vector<const db::RunHistoryRow*> evaluated;
  for (const auto& r : runs) {
    if (r.ndcg || r.recall || r.eval_coverage) {
      evaluated.push_back(&r);
      eval_labels.push_back(std::to_string(r.run_id));
    }
  }
  auto per_eval = [&](auto field) {
    std::vector<std::optional<double>> v;
    for (const auto* r : evaluated) v.push_back(field(*r));
    return v;
  };
  auto quality = [&](std::string_view title, auto model, auto popularity) {
    if (evaluated.empty()) {
      return empty_chart(title, "no run evaluated yet (evaluate.in_run: true records it)");
    }
    return line_chart(title, "run", eval_labels,
                      {{"model", kModelColour, per_eval(model)},
                       {"popularity", kPopularityColour, per_eval(popularity)}});
  };
  std::string html;
  html += quality(
      fmt::format("NDCG@{}", ndcg_k), [](auto& r) { return r.ndcg; },
      [](auto& r) { return r.popularity_ndcg; });
  html += quality(
      fmt::format("Recall@{}", recall_k), [](auto& r) { return r.recall; },
      [](auto& r) { return r.popularity_recall; });
  html += quality(
      "Catalogue coverage (evaluation)", [](auto& r) { return r.eval_coverage; },
      [](auto& r) { return r.popularity_coverage; });

  // Stage times, stacked.
  std::vector<Series> stage_series;
  for (const auto& [stage, colour] : kStages) {
    Series se{stage, colour, {}};
    bool any = false;
    for (const auto& r : runs) {
      std::optional<double> v;
      for (const auto& [name, seconds] : r.timings) {
        if (name == stage) v = seconds;
      }
      any = any || v.has_value();
      se.values.push_back(v);
    }
    if (any) stage_series.push_back(std::move(se));
  }
  html += runs.empty() ? empty_chart("Stage times (s)", "no runs recorded yet")
                       : bar_chart("Stage times (s)", "run", run_labels, stage_series);

  // Churn per publish.
  std::vector<std::string> publish_labels;
  std::vector<std::optional<double>> churn, coverage;
  for (const auto& r : runs) {
    if (r.coverage) {
      publish_labels.push_back(std::to_string(r.run_id));
      churn.push_back(r.churn);
      coverage.push_back(r.coverage);
    }
  }
  html += publish_labels.empty()
              ? empty_chart("Churn per night", "nothing published yet")
              : bar_chart("Churn per night (share of each user's list replaced)", "run",
                          publish_labels, {{"churn", kChurnColour, churn}});
  html += publish_labels.empty()
              ? empty_chart("Coverage of the published set", "nothing published yet")
              : line_chart("Coverage of the published set", "run", publish_labels,
                           {{"coverage", kModelColour, coverage}});

  // Loss per epoch of the last training.
  if (epochs.empty()) {
    html += empty_chart("Training loss per epoch", "no training recorded yet");
  } else {
    std::vector<std::string> labels;
    Series loss{"loss", kLossColour, {}}, rmse{"validation RMSE", kValidationColour, {}};
    bool any_rmse = false;
    for (const auto& e : epochs) {
      labels.push_back(std::to_string(e.epoch));
      loss.values.push_back(e.loss);
      rmse.values.push_back(e.val_rmse);
      any_rmse = any_rmse || e.val_rmse.has_value();
    }
    std::vector<Series> series{loss};
    if (any_rmse) series.push_back(rmse);
    html += line_chart(fmt::format("Training loss per epoch (run {})", training_run), "epoch",
                       labels, series);
  }

  // The live set's scores.
  if (scores.counts.empty()) {
    html += empty_chart("Score distribution", scores_missing);
  } else {
    std::vector<std::string> labels;
    Series counts{"recommendations", kScoreColour, {}};
    const double width = (scores.max - scores.min) / kScoreBins;
    for (std::size_t i = 0; i < scores.counts.size(); ++i) {
      labels.push_back(number(scores.min + width * static_cast<double>(i)));
      counts.values.push_back(static_cast<double>(scores.counts[i]));
    }
    html += bar_chart("Score distribution of the live recommendations", "score", labels, {counts});
  }

  // The latest run: its row and its summary's figures.
  std::string latest;
  if (!runs.empty()) {
    const db::RunHistoryRow& r = runs.back();
    latest += fmt::format(
        "<table><tr><th>run</th><td>{}</td></tr><tr><th>command</th><td>{}</td></tr>"
        "<tr><th>status</th><td class=\"s-{}\">{}</td></tr><tr><th>started</th><td>{}</td></tr>"
        "<tr><th>finished</th><td>{}</td></tr><tr><th>seconds</th><td>{}</td></tr>",
        r.run_id, escape(r.command), escape(r.status), escape(r.status), escape(r.started_at),
        escape(r.finished_at), cell(r.total_seconds));
    if (!r.message.empty()) {
      latest += fmt::format("<tr><th>message</th><td>{}</td></tr>", escape(r.message));
    }
    for (const auto& [key, value] : history->summary_of(r.run_id)) {
      latest += fmt::format("<tr><th>{}</th><td>{}</td></tr>", escape(key), escape(value));
    }
    latest += "</table>";
  } else {
    latest = "<p class=\"n\">no runs recorded yet</p>";
  }
  std::string table =
      "<table><tr><th>run</th><th>command</th><th>status</th><th>started</th><th>seconds</th>"
      "<th>NDCG</th><th>churn</th><th>coverage</th><th>message</th></tr>";
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    table += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"s-{}\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td></tr>",
        it->run_id, escape(it->command), escape(it->status), escape(it->status),
        escape(it->started_at), cell(it->total_seconds), cell(it->ndcg), cell(it->churn),
        cell(it->coverage), escape(it->message));
  }
  table += "</table>";

  const std::string page = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>recs: {} runs</title><style>"
      "body{{font:14px sans-serif;margin:24px;color:#222;background:#fff}}"
      "h1{{font-size:20px}} h2{{font-size:16px;margin-top:28px}} h3{{font-size:14px}}"
      ".charts{{display:flex;flex-wrap:wrap;gap:16px}}"
      "figure{{margin:0;border:1px solid #ddd;padding:8px;width:{}px}}"
      "svg text{{font:11px sans-serif;fill:#444}} svg text.t{{font:bold 13px sans-serif;fill:#222}}"
      "svg .g{{stroke:#e4e4e4;stroke-width:1}} .l span{{margin-right:14px;font-size:12px}}"
      ".l i{{display:inline-block;width:10px;height:10px;margin-right:4px}}"
      ".n{{color:#777}} table{{border-collapse:collapse}}"
      "td,th{{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:12px}}"
      ".s-failed,.s-refused,.s-abandoned{{color:#b00}} .s-succeeded{{color:#060}}"
      "</style></head><body><h1>recs: the last {} runs of {}</h1>"
      "<div class=\"charts\">{}</div><h2>Latest run</h2>{}"
      "<h2>Runs</h2>{}</body></html>\n",
      runs.size(), kWidth, runs.size(), escape(config.database.string()), html, latest, table);

  const std::filesystem::path tmp = out.string() + ".tmp";
  std::error_code ignored;
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    file << page;
    file.close();
    if (!file) {
      // A folder that is missing or not writable, --out naming a folder, a
      // full disk: the command line asked for what cannot be written.
      std::filesystem::remove(tmp, ignored);
      throw UsageError("--out " + out.string() +
                       ": cannot write the report: " + std::strerror(errno));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) {
    std::filesystem::remove(tmp, ignored);
    throw UsageError("--out " + out.string() + ": cannot write the report: " + ec.message());
  }
  log::info("wrote {} ({} runs, {} bytes)", out.string(), runs.size(), page.size());
}

}  // namespace recs
