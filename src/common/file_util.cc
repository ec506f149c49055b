#include "common/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/uuid.h"

namespace ringtrain {
namespace {
[[noreturn]] void Fail(ExitCode code, const std::string& what, const std::string& path, int err) {
  throw Error(code, what + ": " + std::strerror(err), path,
              "check that the directory exists, is writable and has free space");
}
}  // namespace

void WriteFileAtomically(const std::string& path, std::span<const std::byte> data,
                         ExitCode code_on_error) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // Built with append(): GCC 12 at -O3 reports a false -Wrestrict on chained operator+.
  std::string name(".");
  name.append(target.filename().string()).append(".tmp-").append(RandomHexId());
  std::string tmp = (dir / name).string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) Fail(code_on_error, "cannot create temporary file", tmp, errno);
  const auto* p = reinterpret_cast<const char*>(data.data());
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      Fail(code_on_error, "cannot write", tmp, err);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    Fail(code_on_error, "cannot fsync", tmp, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    Fail(code_on_error, "cannot rename temporary file over", path, err);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::vector<std::byte> ReadWholeFile(const std::string& path, ExitCode code_on_error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw Error(code_on_error, std::string("cannot open file: ") + std::strerror(err), path,
                "check the path and its permissions");
  }
  std::vector<std::byte> out;
  std::byte buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw Error(code_on_error, std::string("cannot read file: ") + std::strerror(err), path,
                  "check the file");
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  ::close(fd);
  return out;
}

}  // namespace ringtrain
