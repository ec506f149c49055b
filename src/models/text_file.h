// models/text_file.h — internal: byte-range sharding of a text file and buffered line
// streaming, shared by the LIBSVM and CSV readers.
//
// Shard rule: with size bytes and n shards, shard s owns the lines that START in
// [size*s/n, size*(s+1)/n). A line starts at offset 0 or right after a '\n'. So every line
// belongs to exactly one shard, shards are in file order, and a shard may be empty.
// The global row index of the shard's first row (Dataset::first_row) is the number of data
// lines (not blank, not starting with '#') before the shard: found by one cheap memchr pass
// over the bytes before the shard (about 2-5 GB/s), which also gives the line number used
// in error messages.
// Reads are large pread()s into one buffer (4 MiB, grown only for longer lines); no iostreams.
// A gzip-compressed file (magic 1f 8b, whatever its name) is inflated into memory once when
// opened, and offsets, sizes and shards are those of the inflated text: every rank inflates
// the whole file and keeps its own rows. The inflated text is refused above half the
// physical memory (a decompression bomb) with a DataError naming the file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/dataset.h"

namespace ringtrain::models::internal {

class TextFile {
 public:
  // Opens `path`; DataError "cannot open" naming the path and errno text.
  explicit TextFile(const std::string& path);
  ~TextFile();
  TextFile(const TextFile&) = delete;
  TextFile& operator=(const TextFile&) = delete;

  std::int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // First line start at or after `offset` (size() if none).
  std::int64_t LineStartAtOrAfter(std::int64_t offset);
  struct Prefix {
    std::int64_t lines = 0;       // '\n' count in [0, end)
    std::int64_t data_lines = 0;  // lines in [0, end) holding a row (see top)
  };
  // `end` must be a line start.
  Prefix CountPrefix(std::int64_t end);
  // The first line of the file (without '\n' / '\r').
  std::string FirstLine();
  // Occurrences of `a` and `b` in [begin, end): one memchr-speed pass (the page cache holds
  // the bytes the parse reads next), so a reader can size its arrays exactly once instead of
  // growing them (growth holds the old and the new copy at once: up to 1.5x the final CSR).
  std::pair<std::int64_t, std::int64_t> CountChars(std::int64_t begin, std::int64_t end, char a,
                                                   char b);

  // Calls fn(std::string_view line, std::int64_t line_no, std::int64_t offset) for every
  // line in [begin, end) (begin a line start), line_no 1-based given the first line's
  // number, offset the line's first byte. The view is valid only during the call; a
  // trailing '\r' is removed.
  template <class Fn>
  void ForEachLine(std::int64_t begin, std::int64_t end, std::int64_t first_line_no, Fn&& fn);

 private:
  // Reads up to n bytes at offset into dst; returns bytes read (throws DataError on error).
  std::size_t ReadAt(char* dst, std::size_t n, std::int64_t offset);

  // Inflates the gzip file at path_ into inflated_ (DataError if corrupt or too large).
  void Inflate();

  std::string path_;
  int fd_ = -1;
  bool gzip_ = false;
  std::vector<char> inflated_;
  std::int64_t size_ = 0;
};

// The byte range a reader reads: options.range_begin/end when given (checked: line starts
// within the file, begin <= end; DataError otherwise), else shard s of n by the rule on top.
std::pair<std::int64_t, std::int64_t> ShardByteRange(TextFile& file, const ReadOptions& options);

template <class Fn>
void TextFile::ForEachLine(std::int64_t begin, std::int64_t end, std::int64_t first_line_no,
                           Fn&& fn) {
  // 4 MiB, or the range if smaller (a 4 MiB buffer per call made tiny inputs page-fault bound).
  std::vector<char> buf(static_cast<std::size_t>(
      std::max<std::int64_t>(1, std::min<std::int64_t>(std::int64_t{4} << 20, end - begin))));
  std::size_t have = 0;  // bytes of a partial line carried at buf[0..have)
  std::int64_t pos = begin;
  std::int64_t line_no = first_line_no;
  std::int64_t base = begin;  // file offset of buf[0]
  auto emit = [&](const char* p, std::size_t len) {
    const std::int64_t offset = base + (p - buf.data());
    if (len > 0 && p[len - 1] == '\r') --len;
    fn(std::string_view(p, len), line_no, offset);
    ++line_no;
  };
  while (pos < end) {
    if (have == buf.size()) buf.resize(buf.size() * 2);
    std::size_t want = buf.size() - have;
    if (static_cast<std::int64_t>(want) > end - pos) want = static_cast<std::size_t>(end - pos);
    std::size_t got = ReadAt(buf.data() + have, want, pos);
    if (got == 0) break;  // file shrank under us; treat what we have as the end
    pos += static_cast<std::int64_t>(got);
    const char* p = buf.data();
    const char* stop = buf.data() + have + got;
    while (p < stop) {
      const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(stop - p));
      if (nl == nullptr) break;
      const char* q = static_cast<const char*>(nl);
      emit(p, static_cast<std::size_t>(q - p));
      p = q + 1;
    }
    have = static_cast<std::size_t>(stop - p);
    base += p - buf.data();
    if (have > 0 && p != buf.data()) std::memmove(buf.data(), p, have);
  }
  if (have > 0) emit(buf.data(), have);  // last line without '\n'
}

}  // namespace ringtrain::models::internal
