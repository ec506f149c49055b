#include "models/text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <memory>

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
  unsigned char magic[2] = {0, 0};
  if (size_ >= 2 && ::pread(fd_, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    gzip_ = true;
    Inflate();
  }
}

void TextFile::Inflate() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  const std::int64_t limit =
      pages > 0 && page > 0 ? static_cast<std::int64_t>(pages) * page / 2 : std::int64_t{1} << 32;
  struct GzClose {
    void operator()(gzFile f) const { gzclose(f); }
  };
  std::unique_ptr<gzFile_s, GzClose> gz(gzopen(path_.c_str(), "rb"));
  if (gz == nullptr) {
    throw DataError("cannot open gzip data file: " + std::string(std::strerror(errno)), path_,
                    "check the path and its permissions");
  }
  gzbuffer(gz.get(), 1 << 20);
  std::size_t have = 0;
  inflated_.resize(std::max<std::size_t>(std::size_t{1} << 20, static_cast<std::size_t>(size_)));
  for (;;) {
    if (have == inflated_.size()) {
      if (static_cast<std::int64_t>(have) >= limit) {
        throw DataError("gzip data file inflates to more than " + std::to_string(limit >> 20) +
                            " MiB (half the physical memory)",
                        path_, "decompress it (gunzip) and check its size, or use a smaller file");
      }
      inflated_.resize(static_cast<std::size_t>(
          std::min<std::int64_t>(limit, static_cast<std::int64_t>(have) * 2)));
    }
    const std::size_t want = std::min<std::size_t>(inflated_.size() - have, std::size_t{1} << 30);
    const int got = gzread(gz.get(), inflated_.data() + have, static_cast<unsigned>(want));
    if (got < 0) {
      int err = 0;
      const char* msg = gzerror(gz.get(), &err);
      throw DataError(std::string("gzip data file is corrupt: ") + (msg != nullptr ? msg : "?"),
                      path_, "check the file with gzip -t, or give the uncompressed file");
    }
    if (got == 0) break;
    have += static_cast<std::size_t>(got);
  }
  // gzread returns what it could of a truncated stream without an error; gzclose_r says
  // Z_BUF_ERROR then.
  if (gzclose_r(gz.release()) != Z_OK) {
    throw DataError("gzip data file is truncated or corrupt", path_,
                    "check the file with gzip -t, or give the uncompressed file");
  }
  inflated_.resize(have);
  inflated_.shrink_to_fit();
  size_ = static_cast<std::int64_t>(have);
}

TextFile::~TextFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t TextFile::ReadAt(char* dst, std::size_t n, std::int64_t offset) {
  if (gzip_) {
    if (offset >= size_) return 0;
    const std::size_t k = std::min<std::size_t>(n, static_cast<std::size_t>(size_ - offset));
    std::memcpy(dst, inflated_.data() + offset, k);
    return k;
  }
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

std::pair<std::int64_t, std::int64_t> TextFile::CountChars(std::int64_t begin, std::int64_t end,
                                                           char a, char b) {
  std::int64_t na = 0, nb = 0;
  std::vector<char> buf(static_cast<std::size_t>(
      std::max<std::int64_t>(1, std::min<std::int64_t>(std::int64_t{4} << 20, end - begin))));
  for (std::int64_t pos = begin; pos < end;) {
    const auto want = static_cast<std::size_t>(
        std::min<std::int64_t>(static_cast<std::int64_t>(buf.size()), end - pos));
    const std::size_t got = ReadAt(buf.data(), want, pos);
    if (got == 0) break;
    const auto stop = buf.begin() + static_cast<std::ptrdiff_t>(got);
    na += std::count(buf.begin(), stop, a);
    nb += std::count(buf.begin(), stop, b);
    pos += static_cast<std::int64_t>(got);
  }
  return {na, nb};
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
