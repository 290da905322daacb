#include "io/csv.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "test_util.h"
#include "util/error.h"

namespace recs {
namespace {

using Rows = std::vector<std::vector<std::string>>;
using test::TempDir;
using test::write_file;

Rows parse(std::string_view text) {
  CsvReader csv(text, "t.csv");
  Rows rows;
  std::vector<std::string_view> f;
  while (csv.next(f)) rows.emplace_back(f.begin(), f.end());
  return rows;
}

std::string error_of(std::string_view text) {
  try {
    parse(text);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Csv, PlainRowsLfAndCrlf) {
  Rows want = {{"a", "b", "c"}, {"1", "2", "3"}};
  EXPECT_EQ(parse("a,b,c\n1,2,3\n"), want);
  EXPECT_EQ(parse("a,b,c\r\n1,2,3\r\n"), want);
  EXPECT_EQ(parse("a,b,c\r\n1,2,3\n"), want);  // mixed endings are fine
}

TEST(Csv, LastLineWithoutNewline) {
  EXPECT_EQ(parse("a,b\n1,2"), (Rows{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(parse("a,b\r\n1,2"), (Rows{{"a", "b"}, {"1", "2"}}));
}

TEST(Csv, BomIsSkipped) {
  EXPECT_EQ(parse("\xEF\xBB\xBFmovieId,title\n1,x\n"), (Rows{{"movieId", "title"}, {"1", "x"}}));
}

TEST(Csv, QuotedFieldsWithCommasAndDoubledQuotes) {
  auto rows = parse(
      "movieId,title,genres\r\n"
      "11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
      "4,\"11'09\"\"01 - September 11 (2002)\",Drama\r\n");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][1], "American President, The (1995)");
  EXPECT_EQ(rows[1][2], "Comedy|Drama|Romance");
  EXPECT_EQ(rows[2][1], "11'09\"01 - September 11 (2002)");
  EXPECT_EQ(rows[2][2], "Drama");  // no trailing \r
}

TEST(Csv, ManyUnquotedFieldsInOneRecordStayValid) {
  // More than the reader's inline span capacity, mixing unquoted fields.
  std::string line;
  Rows want(1);
  for (int i = 0; i < 50; ++i) {
    std::string v = i % 3 == 0 ? "q\"" + std::to_string(i) : std::to_string(i);
    line += (i ? "," : "") + (i % 3 == 0 ? "\"q\"\"" + std::to_string(i) + "\"" : v);
    want[0].push_back(v);
  }
  EXPECT_EQ(parse(line + "\n"), want);
}

TEST(Csv, QuotedLineBreaksAndLineNumbers) {
  CsvReader csv("h\n\"two\nlines\"\nx\n", "t.csv");
  std::vector<std::string_view> f;
  ASSERT_TRUE(csv.next(f));
  EXPECT_EQ(csv.line(), 1);
  ASSERT_TRUE(csv.next(f));
  EXPECT_EQ(f[0], "two\nlines");
  EXPECT_EQ(csv.line(), 2);
  ASSERT_TRUE(csv.next(f));
  EXPECT_EQ(f[0], "x");
  EXPECT_EQ(csv.line(), 4);
  EXPECT_FALSE(csv.next(f));
}

TEST(Csv, EmptyLinesAreSkippedButCounted) {
  CsvReader csv("a\n\n\r\nb\n\n", "t.csv");
  std::vector<std::string_view> f;
  ASSERT_TRUE(csv.next(f));
  ASSERT_TRUE(csv.next(f));
  EXPECT_EQ(f[0], "b");
  EXPECT_EQ(csv.line(), 4);
  EXPECT_FALSE(csv.next(f));
}

TEST(Csv, EmptyFieldsAndEmptyQuotedFields) {
  EXPECT_EQ(parse("a,,\"\"\n"), (Rows{{"a", "", ""}}));
  EXPECT_EQ(parse(",\n"), (Rows{{"", ""}}));
}

TEST(Csv, VeryLongLine) {
  std::string big(5'000'000, 'x');
  auto rows = parse("a,b\n1,\"" + big + "\"\n2," + big + "\n");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][1].size(), big.size());
  EXPECT_EQ(rows[2][1].size(), big.size());
}

TEST(Csv, ErrorsNameFileAndLine) {
  EXPECT_EQ(error_of("a\n\"unterminated\n"), "t.csv:2: unterminated quoted field");
  EXPECT_NE(error_of("a\nx\"y\n").find("t.csv:2: quote inside an unquoted field"),
            std::string::npos);
  EXPECT_NE(error_of("a\n\"x\"y\n").find("t.csv:2: unexpected character after a closing quote"),
            std::string::npos);
  EXPECT_NE(error_of("a\nb\rc\n").find("t.csv:2: carriage return"), std::string::npos);
}

TEST(Csv, HeaderCheck) {
  CsvReader ok("userId,movieId\n1,2\n", "t.csv");
  EXPECT_NO_THROW(ok.expect_header({"userId", "movieId"}));
  CsvReader wrong("user,movie\n", "t.csv");
  try {
    wrong.expect_header({"userId", "movieId"});
    FAIL() << "wrong header accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "t.csv:1: expected the header 'userId,movieId', got 'user,movie'");
  }
  CsvReader empty("", "t.csv");
  EXPECT_THROW(empty.expect_header({"a"}), InputError);
}

// A file bigger than the reader's 4 MiB block, with quoted fields holding
// line breaks and commas that fall across the blocks' ends.
std::string big_text() {
  std::string text = "id,title,n\n";
  for (int i = 0; text.size() < (std::size_t{11} << 20); ++i) {
    text += std::to_string(i) + ",";
    if (i % 7 == 0) {
      text += "\"line\nbreak, \"\"quoted\"\" " + std::string(i % 300, 'x') + "\"";
    } else {
      text += "plain" + std::to_string(i * 31);
    }
    text += i % 5 == 0 ? ",9\r\n" : ",9\n";
  }
  return text;
}

TEST(CsvFile, ReadsBlocksAsTheWholeText) {
  TempDir dir;
  const std::string text = "\xEF\xBB\xBF" + big_text() + "last,\"no\nnewline\",1";
  write_file(dir / "a.csv", text);
  CsvReader csv(dir / "a.csv");
  EXPECT_EQ(csv.size(), text.size());
  Rows rows;
  std::vector<std::int64_t> lines;
  std::vector<std::string_view> f;
  while (csv.next(f)) {
    rows.emplace_back(f.begin(), f.end());
    lines.push_back(csv.line());
  }
  EXPECT_EQ(csv.offset(), text.size());
  CsvReader whole(text, "a.csv");
  EXPECT_EQ(whole.size(), text.size());
  Rows want;
  std::size_t i = 0;
  while (whole.next(f)) {
    want.emplace_back(f.begin(), f.end());
    ASSERT_LT(i, lines.size());
    EXPECT_EQ(lines[i++], whole.line());
  }
  EXPECT_GT(want.size(), 100000u);
  EXPECT_EQ(rows, want);
}

TEST(CsvFile, RecordLongerThanABlock) {
  TempDir dir;
  const std::string title(9 << 20, 't');
  write_file(dir / "a.csv", "a,b\n1,\"" + title + "\n" + title + "\"\n2,z\n");
  CsvReader csv(dir / "a.csv");
  std::vector<std::string_view> f;
  ASSERT_TRUE(csv.next(f));
  ASSERT_TRUE(csv.next(f));
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[1], title + "\n" + title);
  ASSERT_TRUE(csv.next(f));
  EXPECT_EQ(csv.line(), 4);
  EXPECT_FALSE(csv.next(f));
}

// What an export job rewriting the file during the import does to it: each
// is refused with the file's name, never read as a shorter or mixed file.
std::string error_reading_after(const std::filesystem::path& path,
                                const std::function<void()>& change) {
  try {
    CsvReader csv(path);  // the first block is read here
    change();
    std::vector<std::string_view> f;
    while (csv.next(f)) {
    }
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CsvFile, FileChangedWhileReadIsRefused) {
  TempDir dir;
  const auto path = dir / "ratings.csv";
  const std::string text = big_text();
  write_file(path, text);
  EXPECT_EQ(error_reading_after(path, [] {}), "(no error)");

  std::string e = error_reading_after(path, [&] { std::filesystem::resize_file(path, 5 << 20); });
  EXPECT_NE(e.find(path.string() + ": changed while it was being read (it ended after"),
            std::string::npos)
      << e;

  write_file(path, text);
  e = error_reading_after(path, [&] { std::ofstream(path, std::ios::app) << "1,2,3\n"; });
  EXPECT_NE(e.find("changed while it was being read (it grew past"), std::string::npos) << e;

  write_file(path, text);
  e = error_reading_after(path, [&] {
    // The same size, bytes rewritten in place past the first block.
    const int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const char row[] = "7";
    ASSERT_EQ(::pwrite(fd, row, 1, 9 << 20), 1);
    ::close(fd);
  });
  EXPECT_NE(e.find("changed while it was being read (it was modified"), std::string::npos) << e;

  // Replaced by rename, as the message advises: the reader keeps the file it
  // opened and reads it whole.
  write_file(path, text);
  e = error_reading_after(path, [&] {
    write_file(dir / "new.csv", "id,title,n\n");
    std::filesystem::rename(dir / "new.csv", path);
  });
  EXPECT_EQ(e, "(no error)");
}

TEST(CsvFile, EmptyAndMissingFiles) {
  TempDir dir;
  write_file(dir / "empty.csv", "");
  CsvReader csv(dir / "empty.csv");
  std::vector<std::string_view> f;
  EXPECT_FALSE(csv.next(f));
  try {
    CsvReader missing(dir / "missing.csv");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.csv: cannot open"), std::string::npos);
  }
  EXPECT_THROW(CsvReader{dir.path()}, InputError);  // a folder
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("Am\xC3\xA9lie (2001)"));
  EXPECT_TRUE(is_valid_utf8("\xE4\xB8\xAD\xF0\x9F\x8E\xAC"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(is_valid_utf8("\xFF"));
}

}  // namespace
}  // namespace recs
