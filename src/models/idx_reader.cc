// models/idx_reader.cc — IDX (MNIST family): an images file and a labels file, gzip or plain.
//
// Layout: magic 00 00 08 <ndims>, ndims big-endian u32 dimensions, then unsigned bytes.
// Images: ndims >= 2, rows = dim0, features = product of the other dims. Labels: ndims 1.
// Shard s of n reads rows [rows*s/n, rows*(s+1)/n): a plain file is seeked, a gzip file is
// inflated forward (gzseek) up to the shard. Pixels are scaled to [0,1] and stored dense.
// Truncation is checked before reading: against the file size (plain) or gzip's ISIZE
// trailer (uncompressed size mod 2^32) so that every shard, not only the last, sees it.
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "models/readers.h"

namespace ringtrain::models::internal {
namespace {

constexpr std::int64_t kMaxRowBytes = std::int64_t{1} << 31;

std::string At(const std::string& path, std::int64_t offset) {
  return path + ":offset " + std::to_string(offset);
}

// Size of the uncompressed content: file size for plain files, ISIZE for gzip.
std::int64_t ContentSize(const std::string& path, bool* gzip, std::int64_t* file_bytes) {
  // Refuse non-regular files before fopen: opening a FIFO with no writer would block forever.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw DataError("not a readable regular file", path,
                    "give an IDX file, not a directory, pipe or device");
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    throw DataError("cannot open IDX file: " + std::string(std::strerror(errno)), path,
                    "check the path (--data images file, --labels labels file)");
  }
  unsigned char head[2] = {0, 0};
  std::size_t got = std::fread(head, 1, 2, f);
  std::fseek(f, 0, SEEK_END);
  std::int64_t size = std::ftell(f);
  std::int64_t content = size;
  *file_bytes = size;
  *gzip = got == 2 && head[0] == 0x1f && head[1] == 0x8b;
  if (*gzip && size >= 18) {
    unsigned char t[4];
    std::fseek(f, -4, SEEK_END);
    if (std::fread(t, 1, 4, f) == 4) {
      content = static_cast<std::int64_t>(t[0] | (t[1] << 8) | (t[2] << 16) |
                                          (static_cast<std::uint32_t>(t[3]) << 24));
    }
  }
  std::fclose(f);
  return content;
}

class IdxFile {
 public:
  IdxFile(const std::string& path, bool images) : path_(path) {
    std::int64_t file_bytes = 0;
    content_ = ContentSize(path, &gzip_, &file_bytes);
    gz_.reset(gzopen(path.c_str(), "rb"));
    if (gz_ == nullptr) throw DataError("cannot open IDX file", path, "check the path");
    gzbuffer(gz_.get(), 1 << 20);
    unsigned char magic[4];
    Read(magic, 4, 0);
    const bool ok = magic[0] == 0 && magic[1] == 0 && magic[2] == 0x08 &&
                    (images ? magic[3] >= 2 : magic[3] == 1);
    if (!ok) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%02x%02x%02x%02x", magic[0], magic[1], magic[2], magic[3]);
      throw DataError(std::string("bad IDX magic ") + hex + " for an " +
                          (images ? "images" : "labels") + " file",
                      At(path, 0),
                      images ? "expected 0x0000080N (unsigned bytes, N>=2 dims): is --data "
                               "the images file?"
                             : "expected 0x00000801: is --labels the labels file?");
    }
    std::vector<unsigned char> dims(4 * magic[3]);
    Read(dims.data(), dims.size(), 4);
    header_ = 4 + static_cast<std::int64_t>(dims.size());
    for (int d = 0; d < magic[3]; ++d) {
      const unsigned char* p = dims.data() + 4 * d;
      std::int64_t v = (std::int64_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
      if (d == 0) {
        rows_ = v;
      } else {
        // Fuzz regression: a zero dimension divided by zero later, and a product of
        // dimensions overflowed int64. A row (image) must hold 1..kMaxRowBytes bytes.
        if (v == 0 || v > kMaxRowBytes / row_bytes_) {
          throw DataError("bad IDX dimension " + std::to_string(v) + " (dimension " +
                              std::to_string(d) + "): an image must hold 1.." +
                              std::to_string(kMaxRowBytes) + " bytes",
                          At(path, 4 + 4 * d), "re-download or re-extract the file");
        }
        row_bytes_ *= v;
      }
    }
    const std::int64_t expected = header_ + rows_ * row_bytes_;
    // gzip's ISIZE is the size mod 2^32; deflate expands at most 1032:1, which bounds what
    // a gzip file can hold. A plain file's size is exact. (Without these, a 20-byte file
    // promising 2^32+16 bytes passed and the reader allocated 16 GiB.)
    const bool short_file =
        content_ < expected &&
        (!gzip_ || content_ != (expected & 0xffffffffLL) || expected / 1032 > file_bytes);
    if (short_file) {
      throw DataError("truncated IDX file: header promises " + std::to_string(rows_) + " rows (" +
                          std::to_string(expected) + " bytes), the file holds " +
                          std::to_string(content_),
                      At(path, content_), "re-download or re-extract the file");
    }
  }
  IdxFile(const IdxFile&) = delete;
  IdxFile& operator=(const IdxFile&) = delete;

  std::int64_t rows() const { return rows_; }
  std::int64_t row_bytes() const { return row_bytes_; }
  std::int64_t header() const { return header_; }

  void Seek(std::int64_t offset) {
    if (gzseek(gz_.get(), static_cast<z_off_t>(offset), SEEK_SET) != static_cast<z_off_t>(offset)) {
      throw DataError("truncated or corrupt IDX file: cannot reach byte " + std::to_string(offset),
                      At(path_, offset), "re-download or re-extract the file");
    }
  }
  void Read(void* dst, std::size_t n, std::int64_t offset) {
    std::size_t done = 0;
    while (done < n) {
      unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
      int r = gzread(gz_.get(), static_cast<char*>(dst) + done, chunk);
      if (r <= 0) {
        int err = 0;
        const char* msg = gzerror(gz_.get(), &err);
        std::int64_t at = offset + static_cast<std::int64_t>(done);
        throw DataError(std::string(r == 0 ? "truncated IDX file" : "corrupt IDX file") +
                            (err != Z_OK && msg != nullptr ? std::string(" (") + msg + ")" : ""),
                        At(path_, at), "re-download or re-extract the file");
      }
      done += static_cast<std::size_t>(r);
    }
  }

 private:
  std::string path_;
  struct GzClose {
    void operator()(gzFile f) const { gzclose(f); }
  };
  // Owned by a unique_ptr so a constructor that throws still closes the file.
  std::unique_ptr<gzFile_s, GzClose> gz_;
  std::int64_t content_ = 0;
  bool gzip_ = false;
  std::int64_t header_ = 0;
  std::int64_t rows_ = 0;
  std::int64_t row_bytes_ = 1;
};

}  // namespace

Dataset ReadIdxShard(const ReadOptions& options) {
  if (options.labels_path.empty()) {
    throw UsageError("IDX data needs a labels file", options.path,
                     "pass --labels <...-labels-idx1-ubyte[.gz]>");
  }
  IdxFile images(options.path, true);
  IdxFile labels(options.labels_path, false);
  if (images.rows() != labels.rows()) {
    throw DataError("IDX images and labels differ in count: " + std::to_string(images.rows()) +
                        " images in " + options.path + ", " + std::to_string(labels.rows()) +
                        " labels",
                    At(options.labels_path, 4), "pair the images file with its own labels file");
  }
  if (images.rows() == 0) throw DataError("no rows in IDX file", At(options.path, 4), "");
  const std::int64_t total = images.rows(), s = options.shard, n = options.num_shards;
  std::int64_t r0 = total * s / n, r1 = total * (s + 1) / n;
  if (options.range_begin >= 0) {
    r0 = options.range_begin;
    r1 = options.range_end;
    if (r1 < r0 || r1 > total)
      throw DataError("the row range [" + std::to_string(r0) + ", " + std::to_string(r1) +
                          ") of a partition is outside the file's " + std::to_string(total) +
                          " rows",
                      options.path, "the file changed since the partition map was made");
  }
  const std::int64_t width = images.row_bytes();

  Dataset data;
  data.first_row = r0;
  data.source_begin = r0;
  data.source_end = r1;
  data.source_size = total;
  data.num_features = width;
  data.dense_cols = width;
  data.row_ptr.push_back(0);
  data.labels.resize(static_cast<std::size_t>(r1 - r0));
  data.dense.resize(static_cast<std::size_t>((r1 - r0) * width));
  if (r1 > r0) {
    std::vector<unsigned char> lab(static_cast<std::size_t>(r1 - r0));
    labels.Seek(labels.header() + r0);
    labels.Read(lab.data(), lab.size(), labels.header() + r0);
    for (std::size_t i = 0; i < lab.size(); ++i) data.labels[i] = lab[i];

    const std::int64_t start = images.header() + r0 * width;
    images.Seek(start);
    const std::int64_t block_rows = std::max<std::int64_t>(1, (std::int64_t{1} << 20) / width);
    std::vector<unsigned char> buf(static_cast<std::size_t>(block_rows * width));
    float scale[256];
    for (int v = 0; v < 256; ++v) scale[v] = static_cast<float>(v) / 255.0f;
    for (std::int64_t r = r0; r < r1; r += block_rows) {
      const std::int64_t k = std::min(block_rows, r1 - r);
      const std::size_t bytes = static_cast<std::size_t>(k * width);
      images.Read(buf.data(), bytes, images.header() + r * width);
      float* out = data.dense.data() + (r - r0) * width;
      for (std::size_t i = 0; i < bytes; ++i) out[i] = scale[buf[i]];
    }
  }
  return data;
}

}  // namespace ringtrain::models::internal
