// train/checkpoint_verify.cc — a checkpoint file named by someone else (a registry record, a
// directory listing) is read or removed only when it is one of this job's.
//
// Why shaped so: the path comes from a znode any client of a shared ensemble may have written
// (without --zk-auth), so it is checked before anything is opened: name, directory (real path,
// nothing leading out), then the file through one descriptor opened O_NOFOLLOW (a regular
// file; header magic, version, job and epoch; the CRC computed while streaming, compared with
// the trailer and the record). A removal unlinks the name relative to the directory opened
// once, and only while the name still names the inode that was verified.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "common/error.h"
#include "common/log.h"
#include "train/checkpoint.h"

namespace ringtrain::train {
namespace {

constexpr char kMagic[8] = {'R', 'T', 'C', 'K', 'P', 'T', '\r', '\n'};
constexpr std::uint64_t kMaxOptionsText = std::uint64_t{1} << 20;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

std::string RealPath(const std::string& p, int* err) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) {
    *err = errno;
    return {};
  }
  *err = 0;
  return buf;
}

// The file checked, opened: the directory (by its real path) and the file inside it.
struct Opened {
  std::string reason;  // "" = opened
  bool missing = false;
  std::string dir;   // real path of the directory
  std::string name;  // file name inside it
  Fd dir_fd, file_fd;
  struct stat st {};
};

// Path checks, then open without following symlinks.
void Open(const std::string& dir, const std::string& job, const CheckpointCandidate& c, Opened* o) {
  namespace fs = std::filesystem;
  if (c.path.empty()) {
    o->reason = "the record names no file";
    return;
  }
  const fs::path p(c.path);
  for (const auto& part : p)
    if (part == "..") {
      o->reason = "its path contains '..'";
      return;
    }
  o->name = p.filename().string();
  const std::string expected = fs::path(CheckpointPath(".", job, c.epoch)).filename().string();
  if (o->name != expected) {
    o->reason = "its name is not " + expected + " (the file of epoch " + std::to_string(c.epoch) +
                " of job " + job + ")";
    return;
  }
  const fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  int err = 0;
  o->dir = RealPath(parent.string(), &err);
  if (o->dir.empty()) {
    o->missing = err == ENOENT;
    o->reason = "its directory " + parent.string() + " cannot be resolved: " + std::strerror(err);
    return;
  }
  if (dir.empty()) {
    // No checkpoint directory to compare with: the recorded directory must be real itself.
    const std::string lexical = fs::absolute(parent).lexically_normal().string();
    std::string normal = lexical;
    while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
    if (normal != o->dir) {
      o->reason =
          "its directory " + parent.string() + " leads through a symbolic link to " + o->dir;
      return;
    }
  } else {
    const std::string want = RealPath(dir, &err);
    if (want.empty()) {
      o->reason = "the checkpoint directory " + dir + " cannot be resolved: " + std::strerror(err);
      return;
    }
    if (want != o->dir) {
      o->reason = "it is not inside the checkpoint directory " + want + " (its directory is " +
                  o->dir + ")";
      return;
    }
  }
  o->dir_fd.reset(::open(o->dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (o->dir_fd.get() < 0) {
    o->reason = "cannot open its directory " + o->dir + ": " + std::strerror(errno);
    return;
  }
  const int fd =
      ::openat(o->dir_fd.get(), o->name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    const int e = errno;
    o->missing = e == ENOENT;
    o->reason =
        e == ELOOP ? "it is a symbolic link" : std::string("cannot open it: ") + std::strerror(e);
    return;
  }
  o->file_fd.reset(fd);
  if (::fstat(fd, &o->st) != 0 || !S_ISREG(o->st.st_mode)) {
    o->reason = "it is not a regular file";
    return;
  }
}

// Reads through the descriptor; the CRC covers every byte before the 4-byte trailer.
class Stream {
 public:
  Stream(int fd, std::uint64_t size) : fd_(fd), body_(size - 4) {}
  // Reads n bytes of the body into out (nullptr: skip, CRC only). False on a short file.
  bool Body(std::size_t n, void* out) {
    if (n > body_ - pos_) return false;
    auto* dst = static_cast<unsigned char*>(out);
    while (n > 0) {
      unsigned char buf[1 << 16];
      const std::size_t want = std::min(n, sizeof buf);
      if (!Raw(want, dst != nullptr ? dst : buf)) return false;
      crc_ = Crc32(std::span<const std::byte>(
                       reinterpret_cast<const std::byte*>(dst != nullptr ? dst : buf), want),
                   crc_);
      if (dst != nullptr) dst += want;
      pos_ += want;
      n -= want;
    }
    return true;
  }
  template <class T>
  bool Get(T* v) {
    unsigned char b[sizeof(T)];
    if (!Body(sizeof b, b)) return false;
    std::make_unsigned_t<T> u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      u |= static_cast<std::make_unsigned_t<T>>(b[i]) << (8 * i);
    *v = static_cast<T>(u);
    return true;
  }
  bool String(std::uint64_t max, std::string* s, bool* too_long) {
    std::uint64_t n = 0;
    if (!Get(&n)) return false;
    *too_long = n > max;
    if (*too_long) return true;
    s->resize(static_cast<std::size_t>(n));
    return Body(s->size(), s->data());
  }
  bool Rest() { return Body(static_cast<std::size_t>(body_ - pos_), nullptr); }
  bool Trailer(std::uint32_t* stored) {
    unsigned char b[4];
    if (!Raw(4, b)) return false;
    *stored = static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
              static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
    return true;
  }
  std::uint32_t crc() const { return crc_; }

 private:
  bool Raw(std::size_t n, unsigned char* out) {
    while (n > 0) {
      const ssize_t r = ::read(fd_, out, n);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      out += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  int fd_;
  std::uint64_t body_;
  std::uint64_t pos_ = 0;
  std::uint32_t crc_ = 0;
};

// Header and CRC of an opened file; "" when it is the checkpoint of c.epoch of `job`.
std::string CheckContent(const std::string& job, const CheckpointCandidate& c, const Opened& o) {
  const auto size = static_cast<std::uint64_t>(o.st.st_size);
  if (size < sizeof kMagic + 4 + 4) return "it is too short to be a checkpoint";
  Stream in(o.file_fd.get(), size);
  char magic[sizeof kMagic];
  if (!in.Body(sizeof magic, magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0)
    return "it is not a ringtrain checkpoint (bad magic)";
  std::uint32_t version = 0;
  if (!in.Get(&version)) return "it is truncated";
  if (version != kCheckpointVersion && version != 1)
    return "its format version is " + std::to_string(version) + " (this build reads 1-" +
           std::to_string(kCheckpointVersion) + ")";
  std::string file_job, hash, text;
  bool too_long = false;
  if (!in.String(256, &file_job, &too_long)) return "it is truncated";
  if (too_long || file_job != job)
    return "it belongs to another job" + (too_long ? std::string() : " ('" + file_job + "')");
  if (!in.String(64, &hash, &too_long) || too_long ||
      !in.String(kMaxOptionsText, &text, &too_long) || too_long)
    return "its header is malformed";
  std::int64_t epoch = 0;
  if (!in.Get(&epoch)) return "it is truncated";
  if (epoch != c.epoch)
    return "it holds epoch " + std::to_string(epoch) + ", not " + std::to_string(c.epoch);
  std::uint32_t stored = 0;
  if (!in.Rest() || !in.Trailer(&stored)) return "it is truncated";
  if (stored != in.crc())
    return "its CRC-32 does not match its content (stored " + Hex32(stored) + ", computed " +
           Hex32(in.crc()) + ")";
  const std::string sum = "crc32:" + Hex32(stored);
  if (!c.checksum.empty() && sum != c.checksum)
    return "it is not the recorded file (" + sum + ", the record says " + c.checksum + ")";
  return {};
}

std::string Source(const CheckpointCandidate& c) {
  return c.source.empty() ? std::string() : " (" + c.source + ")";
}

}  // namespace

std::string VerifyCheckpointFile(const std::string& dir, const std::string& job,
                                 const CheckpointCandidate& c) {
  Opened o;
  Open(dir, job, c, &o);
  if (!o.reason.empty()) return o.reason;
  return CheckContent(job, c, o);
}

CheckpointFile ReadVerifiedCheckpoint(const std::string& dir, const std::string& job,
                                      const CheckpointCandidate& c) {
  Opened o;
  Open(dir, job, c, &o);
  std::string reason = o.reason.empty() ? CheckContent(job, c, o) : o.reason;
  auto fail = [&](const std::string& why) {
    return CheckpointError("checkpoint file left alone" + Source(c) + ": " + why, c.path,
                           "resume from the checkpoints in --checkpoint-dir of this job");
  };
  if (!reason.empty()) throw fail(reason);
  // The same descriptor, read again from the start: the bytes decoded are the bytes checked.
  std::vector<std::byte> bytes(static_cast<std::size_t>(o.st.st_size));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t r =
        ::pread(o.file_fd.get(), bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw fail("it changed while it was read");
    got += static_cast<std::size_t>(r);
  }
  CheckpointFile f = DecodeCheckpoint(bytes, c.path);
  if (f.job != job || f.epoch() != c.epoch ||
      (!c.checksum.empty() &&
       "crc32:" + Hex32(Crc32(std::span<const std::byte>(bytes).first(bytes.size() - 4))) !=
           c.checksum))
    throw fail("it changed while it was read");
  return f;
}

Removal RemoveCheckpointFile(const std::string& dir, const std::string& job,
                             const CheckpointCandidate& c) {
  Removal out;
  Opened o;
  Open(dir, job, c, &o);
  std::string reason = o.reason.empty() ? CheckContent(job, c, o) : o.reason;
  if (reason.empty()) {
    struct stat now {};
    if (::fstatat(o.dir_fd.get(), o.name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 ||
        now.st_dev != o.st.st_dev || now.st_ino != o.st.st_ino) {
      reason = "it was replaced while it was checked";
    } else if (::unlinkat(o.dir_fd.get(), o.name.c_str(), 0) != 0) {
      reason = std::string("cannot remove it: ") + std::strerror(errno);
    }
  }
  out.missing = o.missing;
  out.reason = reason;
  if (reason.empty()) {
    out.removed = true;
    out.line = "removed checkpoint file " + c.path + Source(c);
  } else {
    out.line = "left checkpoint file " + c.path + " alone" + Source(c) + ": " + reason;
  }
  return out;
}

}  // namespace ringtrain::train
