#include "models/text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/error.h"

namespace ringtrain::models::internal {

TextFile::TextFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO with no writer must not hang; fstat then refuses it.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) {
    throw DataError("cannot open data file: " + std::string(std::strerror(errno)), path,
                    "check the path and its permissions");
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw DataError("not a readable regular file", path,
                    "give a data file, not a directory, pipe or device");
  }
  size_ = static_cast<std::int64_t>(st.st_size);
}

TextFile::~TextFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t TextFile::ReadAt(char* dst, std::size_t n, std::int64_t offset) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t r =
        ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset) + static_cast<off_t>(done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw DataError("read failed: " + std::string(std::strerror(errno)),
                      path_ + ":offset " + std::to_string(offset + static_cast<std::int64_t>(done)),
                      "check the file and the disk");
    }
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return done;
}

std::int64_t TextFile::LineStartAtOrAfter(std::int64_t offset) {
  if (offset <= 0) return 0;
  if (offset >= size_) return size_;
  // A line starts at `offset` iff byte offset-1 is '\n': search from offset-1.
  std::vector<char> buf(
      static_cast<std::size_t>(std::min<std::int64_t>(std::int64_t{64} << 10, size_ - offset + 1)));
  std::int64_t pos = offset - 1;
  while (pos < size_) {
    std::size_t got = ReadAt(buf.data(), buf.size(), pos);
    if (got == 0) break;
    const void* nl = std::memchr(buf.data(), '\n', got);
    if (nl != nullptr) return pos + (static_cast<const char*>(nl) - buf.data()) + 1;
    pos += static_cast<std::int64_t>(got);
  }
  return size_;
}

TextFile::Prefix TextFile::CountPrefix(std::int64_t end) {
  Prefix prefix;
  std::vector<char> buf(static_cast<std::size_t>(
      std::max<std::int64_t>(1, std::min<std::int64_t>(std::int64_t{1} << 20, end))));
  bool at_line_start = true;
  std::int64_t pos = 0;
  while (pos < end) {
    std::size_t want = buf.size();
    if (static_cast<std::int64_t>(want) > end - pos) want = static_cast<std::size_t>(end - pos);
    std::size_t got = ReadAt(buf.data(), want, pos);
    if (got == 0) break;
    pos += static_cast<std::int64_t>(got);
    const char* p = buf.data();
    const char* stop = p + got;
    while (p < stop) {
      if (at_line_start) {
        while (p < stop && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
        if (p == stop) break;
        if (*p == '\n') {
          ++prefix.lines;
          ++p;
          continue;
        }
        if (*p != '#') ++prefix.data_lines;
        at_line_start = false;
      }
      const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(stop - p));
      if (nl == nullptr) break;
      ++prefix.lines;
      p = static_cast<const char*>(nl) + 1;
      at_line_start = true;
    }
  }
  return prefix;
}

std::string TextFile::FirstLine() {
  std::string line;
  std::int64_t end = LineStartAtOrAfter(1);
  ForEachLine(0, end, 1, [&](std::string_view l, std::int64_t, std::int64_t) { line.assign(l); });
  return line;
}

std::pair<std::int64_t, std::int64_t> ShardByteRange(TextFile& file, const ReadOptions& o) {
  if (o.range_begin >= 0) {
    const std::int64_t b = o.range_begin, e = o.range_end;
    if (e < b || e > file.size() || file.LineStartAtOrAfter(b) != b ||
        file.LineStartAtOrAfter(e) != e)
      throw DataError("the byte range [" + std::to_string(b) + ", " + std::to_string(e) +
                          ") of a partition does not start and end at lines of the file (" +
                          std::to_string(file.size()) + " bytes)",
                      o.path, "the file changed since the partition map was made; restart the job");
    return {b, e};
  }
  const std::int64_t s = o.shard, n = o.num_shards, size = file.size();
  return {file.LineStartAtOrAfter(size / n * s + size % n * s / n),
          file.LineStartAtOrAfter(size / n * (s + 1) + size % n * (s + 1) / n)};
}

}  // namespace ringtrain::models::internal
