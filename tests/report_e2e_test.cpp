// `pipeline report`: one self-contained HTML page (no script, nothing from
// the network) whose SVG charts show in a browser. The page is rendered by
// headless Chromium (Debian's chromium; a missing one fails the test) and
// the screenshot, decoded with libpng, must show every chart's colour.
#include <gtest/gtest.h>
#include <png.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "test_util.h"

namespace recs::test {
namespace {

namespace fs = std::filesystem;

struct Image {
  unsigned width = 0, height = 0;
  std::vector<std::uint8_t> rgba;
};

Image read_png(const fs::path& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  Image out;
  if (!png_image_begin_read_from_file(&image, path.c_str())) return out;
  image.format = PNG_FORMAT_RGBA;
  out.rgba.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.rgba.data(), 0, nullptr)) return {};
  out.width = image.width;
  out.height = image.height;
  return out;
}

// Pixels of exactly this colour ("#1f77b4").
std::int64_t pixels_of(const Image& img, const std::string& hex) {
  const auto c = std::stoul(hex.substr(1), nullptr, 16);
  const std::uint8_t r = c >> 16 & 0xff, g = c >> 8 & 0xff, b = c & 0xff;
  std::int64_t n = 0;
  for (std::size_t i = 0; i + 3 < img.rgba.size(); i += 4) {
    n += img.rgba[i] == r && img.rgba[i + 1] == g && img.rgba[i + 2] == b;
  }
  return n;
}

std::int64_t non_white(const Image& img) {
  std::int64_t n = 0;
  for (std::size_t i = 0; i + 3 < img.rgba.size(); i += 4) {
    n += img.rgba[i] < 250 || img.rgba[i + 1] < 250 || img.rgba[i + 2] < 250;
  }
  return n;
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(Report, ChartsShowInHeadlessChromium) {
  TempDir dir;
  const fs::path config = make_dataset(dir, 120, 300, 6000,
                                       "model:\n  type: als\n  als: {factors: 8, epochs: 6}\n"
                                       "evaluate:\n  in_run: true\ngate:\n  enabled: false\n");
  for (int seed : {1, 2, 3}) {
    auto r = run_pipeline("run -q --config " + quoted(config) +
                          " --set model.seed=" + std::to_string(seed));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const fs::path html = dir / "report.html";
  auto r = run_pipeline("report --config " + quoted(config) + " --out " + quoted(html));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const std::string page = read_file(html);
  EXPECT_TRUE(page.starts_with("<!DOCTYPE html>"));
  // Self-contained: no script, nothing fetched.
  for (const std::string banned :
       {"<script", "http://", "https://", " src=", "url(", "@import", "<link", "<img"}) {
    EXPECT_EQ(page.find(banned), std::string::npos) << banned;
  }
  EXPECT_EQ(count_of(page, "<svg"), 8);
  for (const std::string title :
       {"NDCG@10", "Recall@20", "Catalogue coverage (evaluation)", "Stage times (s)",
        "Churn per night", "Coverage of the published set", "Training loss per epoch (run 3)",
        "Score distribution of the live recommendations", "Latest run"}) {
    EXPECT_NE(page.find(title), std::string::npos) << title;
  }
  // The latest run's figures, as the run history has them.
  auto rows = sqlite_readonly(dir / "recs.db",
                              "SELECT json_extract(summary, '$.publish.rows') FROM runs "
                              "WHERE run_id = 3;");
  rows.pop_back();
  EXPECT_NE(page.find("<tr><th>publish.rows</th><td>" + rows + "</td></tr>"), std::string::npos);
  // A marker per run in the NDCG chart: the model's three runs.
  EXPECT_EQ(count_of(page, "<title>model "), 3 * 3);  // NDCG, recall and coverage charts

  const fs::path shot = dir / "shot.png";
  auto c = run_command(
      "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
      "--window-size=1280,2000 --screenshot=" +
      quoted(shot) + " " + quoted(fs::path("file://" + html.string())));
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  const Image img = read_png(shot);
  ASSERT_EQ(img.width, 1280u);
  ASSERT_EQ(img.height, 2000u);
  // Not a blank page, and every chart drawn: each has a colour of its own.
  EXPECT_GT(non_white(img), static_cast<std::int64_t>(img.width) * img.height / 50);
  const std::map<std::string, std::string> colours = {{"model (quality charts)", "#1f77b4"},
                                                      {"popularity (quality charts)", "#ff7f0e"},
                                                      {"churn", "#9467bd"},
                                                      {"training loss", "#2ca02c"},
                                                      {"score distribution", "#8c564b"},
                                                      {"stage import", "#17becf"},
                                                      {"stage evaluate", "#bcbd22"},
                                                      {"stage train", "#e377c2"},
                                                      {"stage score", "#7f7f7f"}};
  for (const auto& [what, hex] : colours) {
    EXPECT_GT(pixels_of(img, hex), 40) << what << " " << hex << " not in the screenshot";
  }
}

TEST(Report, SaysWhatIsMissingAndNeedsADatabase) {
  TempDir dir;
  const fs::path config = make_dataset(dir, 20, 40, 300);
  auto missing =
      run_pipeline("report --config " + quoted(config) + " --out " + quoted(dir / "r.html"));
  EXPECT_EQ(missing.exit_code, 5) << missing.err;
  EXPECT_FALSE(fs::exists(dir / "r.html"));
  // A first night refused: one run row, nothing published or trained.
  fs::remove(dir / "data/ratings.csv");
  ASSERT_EQ(run_pipeline("run -q --config " + quoted(config)).exit_code, 3);
  auto r = run_pipeline("report --config " + quoted(config) + " --out " + quoted(dir / "r.html"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = read_file(dir / "r.html");
  EXPECT_NE(page.find("nothing published yet"), std::string::npos);
  EXPECT_NE(page.find("no training recorded yet"), std::string::npos);
  EXPECT_NE(page.find("class=\"s-refused\">refused"), std::string::npos);
  EXPECT_EQ(run_pipeline("report --config " + quoted(config)).exit_code, 2);  // --out required
  // An --out that cannot be written is a bad command line, named, not a bug.
  for (const fs::path& out : {dir / "nofolder" / "r.html", dir.path()}) {
    auto bad = run_pipeline("report --config " + quoted(config) + " --out " + quoted(out));
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
    EXPECT_NE(last_log_line(bad.err).message.find("--out " + out.string() +
                                                  ": cannot write the report: "),
              std::string::npos)
        << bad.err;
  }
  EXPECT_FALSE(fs::exists(dir.path().string() + ".tmp"));
}

}  // namespace
}  // namespace recs::test
