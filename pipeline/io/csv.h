// An RFC 4180 CSV reader over a text or a file read in blocks: quoted fields
// with commas, doubled quotes and line breaks, CRLF or LF, an optional UTF-8
// BOM. Errors are InputErrors carrying "file:line: reason".
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace recs {

class CsvReader {
 public:
  // `display_name` is used in error messages (usually the path as given).
  CsvReader(std::string_view text, std::string display_name);
  // Reads the file at `path` front to back in blocks, so memory holds one
  // block, never the whole file. A file that is not the same from the first
  // read to the last (cut short, grown, rewritten in place: an export job
  // still writing it) is an InputError naming it, never a crash or a
  // silently partial read: an export replaced by rename is read whole, as
  // it was when opened.
  explicit CsvReader(const std::filesystem::path& path);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the next record into `fields` (views valid until the next call).
  // Blank lines are skipped. Returns false at end of input.
  bool next(std::vector<std::string_view>& fields);

  // The line the last record returned by next() started on (1-based).
  std::int64_t line() const { return record_line_; }
  const std::string& name() const { return name_; }
  // Bytes of the text consumed so far (just past the last record read).
  std::size_t offset() const { return base_ + pos_; }
  // Bytes of the whole input (of a file: its size when it was opened).
  std::size_t size() const { return size_; }

  // Reads the header and checks it equals `expected` field by field.
  void expect_header(const std::vector<std::string_view>& expected);

  [[noreturn]] void fail(const std::string& reason) const;

 private:
  struct File;
  // Parses one record from text_; false at its end (need_more_ set when the
  // text is only a block of a file and the record may go on past it).
  bool parse(std::vector<std::string_view>& fields);
  // Drops the parsed bytes and reads the next block; false at the file's end.
  bool refill();

  std::unique_ptr<File> file_;
  bool final_ = true;       // text_ ends where the input ends
  bool need_more_ = false;  // the last parse() ran into a block's end
  std::size_t base_ = 0;    // offset of text_ in the input
  std::size_t size_ = 0;
  std::string_view text_;
  std::string name_;
  std::size_t pos_ = 0;
  std::int64_t next_line_ = 1;
  std::int64_t record_line_ = 0;
  std::string unquoted_;  // storage for fields whose quotes had to be undone
};

// Whether the file at `path` is empty or its last byte is a line feed. An
// export cut short mid-row usually is not; RFC 4180 lets the last record
// end without one, so this is for a warning, never a refusal. Throws
// InputError when the file cannot be read.
bool ends_with_line_break(const std::filesystem::path& path);

// True when `s` is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

}  // namespace recs
