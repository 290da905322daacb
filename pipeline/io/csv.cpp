#include "io/csv.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace recs {

// The file behind a CsvReader: read in blocks into `buffer`, whose bytes up
// to its last line feed are the reader's text (a record may not go past a
// block's last line feed unless a quoted field holds it, which the parser
// reports as needing more).
struct CsvReader::File {
  static constexpr std::size_t kBlock = std::size_t{4} << 20;
  std::filesystem::path path;
  int fd = -1;
  struct stat opened {};
  std::string buffer;
  std::size_t read = 0;  // bytes read from the file so far
  ~File() {
    if (fd >= 0) ::close(fd);
  }
  [[noreturn]] void changed(const std::string& how) const {
    throw InputError(path.string() + ": changed while it was being read (" + how +
                     "): is an export still writing it? Write the export to a new file and " +
                     "rename it into place");
  }
};

CsvReader::CsvReader(const std::filesystem::path& path)
    : file_(std::make_unique<File>()), final_(false), name_(path.string()) {
  file_->path = path;
  file_->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file_->fd < 0) throw InputError(path.string() + ": cannot open: " + std::strerror(errno));
  if (::fstat(file_->fd, &file_->opened) != 0 || !S_ISREG(file_->opened.st_mode)) {
    throw InputError(path.string() + ": not a regular file");
  }
  size_ = static_cast<std::size_t>(file_->opened.st_size);
  ::posix_fadvise(file_->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  refill();
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

CsvReader::~CsvReader() = default;

bool CsvReader::refill() {
  File& f = *file_;
  if (final_) return false;
  f.buffer.erase(0, pos_);
  base_ += pos_;
  pos_ = 0;
  for (;;) {
    const std::size_t have = f.buffer.size();
    // A record longer than a block (a quoted field with line breaks) makes
    // the next read larger, so each record costs reads in proportion to it.
    const std::size_t want = std::max(File::kBlock, have);
    f.buffer.resize(have + want);
    ssize_t got;
    do {
      got = ::read(f.fd, f.buffer.data() + have, want);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      const int err = errno;
      f.buffer.resize(have);
      throw InputError(f.path.string() + ": cannot read: " + std::strerror(err));
    }
    f.buffer.resize(have + static_cast<std::size_t>(got));
    f.read += static_cast<std::size_t>(got);
    if (f.read > size_) {
      f.changed("it grew past the " + std::to_string(size_) + " bytes it had when opened");
    }
    if (got == 0) {
      struct stat now {};
      if (f.read < size_) {
        f.changed("it ended after " + std::to_string(f.read) + " of the " + std::to_string(size_) +
                  " bytes it had when opened");
      }
      if (::fstat(f.fd, &now) != 0 || now.st_size != f.opened.st_size ||
          now.st_mtim.tv_sec != f.opened.st_mtim.tv_sec ||
          now.st_mtim.tv_nsec != f.opened.st_mtim.tv_nsec) {
        f.changed("it was modified after it was opened");
      }
      final_ = true;
      text_ = f.buffer;
      return false;
    }
    // The text ends at the last line feed read so far; the rest waits for
    // the next block.
    const std::size_t lf = f.buffer.rfind('\n');
    if (lf == std::string::npos) continue;  // no line end yet: read on
    text_ = std::string_view(f.buffer).substr(0, lf + 1);
    return true;
  }
}

bool ends_with_line_break(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(path.string() + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  char last = '\n';
  ssize_t got = 0;
  const bool ok = ::fstat(fd, &st) == 0;
  if (ok && st.st_size > 0) {
    do {
      got = ::pread(fd, &last, 1, st.st_size - 1);
    } while (got < 0 && errno == EINTR);
  }
  const int err = errno;
  ::close(fd);
  if (!ok || got < 0) throw InputError(path.string() + ": cannot read: " + std::strerror(err));
  return last == '\n';
}

CsvReader::CsvReader(std::string_view text, std::string display_name)
    : size_(text.size()), text_(text), name_(std::move(display_name)) {
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

void CsvReader::fail(const std::string& reason) const {
  throw InputError(name_, record_line_, reason);
}

bool CsvReader::next(std::vector<std::string_view>& fields) {
  for (;;) {
    if (parse(fields)) return true;
    if (!need_more_) return false;
    need_more_ = false;
    refill();
  }
}

bool CsvReader::parse(std::vector<std::string_view>& fields) {
  fields.clear();
  const char* s = text_.data();
  const std::size_t n = text_.size();
  // Skip blank lines (LF or CRLF).
  while (pos_ < n &&
         (s[pos_] == '\n' || (s[pos_] == '\r' && pos_ + 1 < n && s[pos_ + 1] == '\n'))) {
    pos_ += s[pos_] == '\r' ? 2 : 1;
    ++next_line_;
  }
  if (pos_ >= n) {
    need_more_ = !final_;
    return false;
  }
  record_line_ = next_line_;
  const std::size_t record_start = pos_;
  const std::int64_t record_start_line = next_line_;

  // Fields that needed unquoting live in unquoted_; record their spans as
  // offsets first, since unquoted_ may reallocate while the record is read.
  unquoted_.clear();
  struct Span {
    std::size_t begin, size;
    bool in_buffer;
  };
  Span spans_stack[32];
  std::vector<Span> spans_heap;
  std::size_t count = 0;
  auto push = [&](Span sp) {
    if (count < 32) {
      spans_stack[count] = sp;
    } else {
      if (spans_heap.empty()) spans_heap.assign(spans_stack, spans_stack + 32);
      spans_heap.push_back(sp);
    }
    ++count;
  };

  for (;;) {
    if (pos_ < n && s[pos_] == '"') {
      // Quoted field: runs to a quote not followed by another quote.
      std::size_t start = ++pos_;
      bool doubled = false;
      std::int64_t open_line = next_line_;
      for (;;) {
        const void* q = std::memchr(s + pos_, '"', n - pos_);
        if (!q && !final_) {
          // The field may close in the next block: parse the record again
          // from its start once it is read.
          pos_ = record_start;
          next_line_ = record_start_line;
          need_more_ = true;
          return false;
        }
        if (!q) {
          record_line_ = open_line;
          fail("unterminated quoted field");
        }
        std::size_t qpos = static_cast<const char*>(q) - s;
        for (std::size_t i = pos_; i < qpos; ++i) next_line_ += s[i] == '\n';
        if (qpos + 1 < n && s[qpos + 1] == '"') {
          doubled = true;
          pos_ = qpos + 2;
          continue;
        }
        if (doubled) {
          std::size_t begin = unquoted_.size();
          for (std::size_t i = start; i < qpos; ++i) {
            unquoted_.push_back(s[i]);
            if (s[i] == '"') ++i;  // keep one of each doubled pair
          }
          push({begin, unquoted_.size() - begin, true});
        } else {
          push({start, qpos - start, false});
        }
        pos_ = qpos + 1;
        break;
      }
      if (pos_ < n && s[pos_] != ',' && s[pos_] != '\n' && s[pos_] != '\r') {
        fail("unexpected character after a closing quote (a quote inside a field must be doubled)");
      }
    } else {
      std::size_t start = pos_;
      while (pos_ < n) {
        char c = s[pos_];
        if (c == ',' || c == '\n' || c == '\r') break;
        if (c == '"') fail("quote inside an unquoted field");
        ++pos_;
      }
      push({start, pos_ - start, false});
    }
    // After a field: a comma, a line end, or the end of input.
    if (pos_ >= n) break;
    char c = s[pos_];
    if (c == ',') {
      ++pos_;
      continue;
    }
    if (c == '\r') {
      if (pos_ + 1 >= n || s[pos_ + 1] != '\n') fail("carriage return not followed by a line feed");
      pos_ += 2;
    } else {
      ++pos_;
    }
    ++next_line_;
    break;
  }

  const Span* spans = count <= 32 ? spans_stack : spans_heap.data();
  fields.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Span& sp = spans[i];
    fields.emplace_back(sp.in_buffer ? unquoted_.data() + sp.begin : s + sp.begin, sp.size);
  }
  return true;
}

void CsvReader::expect_header(const std::vector<std::string_view>& expected) {
  std::vector<std::string_view> fields;
  auto join = [](const std::vector<std::string_view>& parts, std::size_t max_part) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i) out += ',';
      out += parts[i].substr(0, max_part);
    }
    return out;
  };
  std::string want = join(expected, std::string_view::npos);
  if (!next(fields)) {
    record_line_ = 1;
    fail("empty file, expected the header '" + want + "'");
  }
  if (fields != expected) {
    std::string got = join(fields, 64);
    if (got.size() > 200) got = got.substr(0, 200) + "...";
    fail("expected the header '" + want + "', got '" + got + "'");
  }
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p < len) return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    // Reject overlong forms, surrogates and values beyond Unicode.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += len;
  }
  return true;
}

}  // namespace recs
