// An RFC 4180 CSV reader over a memory-mapped file: quoted fields with commas,
// doubled quotes and line breaks, CRLF or LF, an optional UTF-8 BOM. Errors
// are InputErrors carrying "file:line: reason".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace recs {

// A read-only view of a whole file (mmap; empty files need no mapping).
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view data() const { return {data_, size_}; }

  // Gives the pages wholly before `offset` back to the kernel (they are read
  // from the file again if touched), so a file parsed front to back holds
  // only its unparsed tail in memory, not the whole file.
  void release_before(std::size_t offset);

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t released_ = 0;  // bytes given back from the start
};

class CsvReader {
 public:
  // `display_name` is used in error messages (usually the path as given).
  CsvReader(std::string_view text, std::string display_name);

  // Reads the next record into `fields` (views valid until the next call).
  // Blank lines are skipped. Returns false at end of input.
  bool next(std::vector<std::string_view>& fields);

  // The line the last record returned by next() started on (1-based).
  std::int64_t line() const { return record_line_; }
  const std::string& name() const { return name_; }
  // Bytes of the text consumed so far (just past the last record read).
  std::size_t offset() const { return pos_; }

  // Reads the header and checks it equals `expected` field by field.
  void expect_header(const std::vector<std::string_view>& expected);

  [[noreturn]] void fail(const std::string& reason) const;

 private:
  std::string_view text_;
  std::string name_;
  std::size_t pos_ = 0;
  std::int64_t next_line_ = 1;
  std::int64_t record_line_ = 0;
  std::string unquoted_;  // storage for fields whose quotes had to be undone
};

// True when `s` is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

}  // namespace recs
