#include "allreduce/shm_ring.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <utility>

#include "allreduce/reduce.h"
#include "allreduce/socket_io.h"

namespace ringtrain::allreduce::internal {
namespace {

// "RTTRSHM2": version 2 aligns every message to kShmAlign; a version-1 peer refuses the
// segment (and the ring stays on TCP) instead of misreading it.
constexpr std::uint64_t kShmMagic = 0x324d485352545452;
constexpr std::size_t kControlBytes = 4096;
constexpr std::size_t kMinCapacity = 4096;
constexpr std::size_t kMaxCapacity = std::size_t{1} << 30;
// Each side publishes its counter after at most this many bytes, so the other side can
// start copying a large message before the whole of it is in.
constexpr std::size_t kPublishBytes = std::size_t{64} << 10;

using Ref = std::atomic_ref<std::uint32_t>;

void FutexWait(std::uint32_t* word, std::uint32_t expected, std::chrono::milliseconds timeout) {
  const auto ms = std::max<std::int64_t>(0, timeout.count());
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  // Not FUTEX_PRIVATE: the other end is another mapping (usually another process). EAGAIN (the
  // word already moved), EINTR and ETIMEDOUT all mean "look again".
  ::syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void FutexWake(std::uint32_t* word) {
  ::syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// True as soon as ready() holds within the polls; false: the caller sleeps.
template <typename Ready>
bool Poll(ShmPolls polls, Ready ready) {
  for (int i = 0; i < polls.spins; ++i) {
    if (ready()) return true;
    CpuRelax();
  }
  if (polls.yield_for.count() <= 0) return false;
  const auto end = std::chrono::steady_clock::now() + polls.yield_for;
  do {
    if (ready()) return true;
    ::sched_yield();
  } while (std::chrono::steady_clock::now() < end);
  return ready();
}

std::uint32_t RoundCapacity(std::size_t capacity) {
  std::size_t c = kMinCapacity;
  while (c < capacity && c < kMaxCapacity) c *= 2;
  return static_cast<std::uint32_t>(c);
}

}  // namespace

struct ShmRing::Control {
  std::uint64_t magic;
  std::uint64_t nonce;
  std::uint32_t capacity;
  alignas(64) std::uint32_t head;  // bytes written (mod 2^32): the producer's counter
  std::uint32_t consumer_waiting;
  alignas(64) std::uint32_t tail;  // bytes read (mod 2^32): the consumer's counter
  std::uint32_t producer_waiting;
};

std::string BootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!(in >> id)) return {};
  return id;
}

ShmRing::ShmRing(std::string name, std::byte* base, std::size_t map_bytes, std::uint32_t capacity,
                 std::uint64_t nonce)
    : name_(std::move(name)),
      base_(base),
      map_bytes_(map_bytes),
      capacity_(capacity),
      nonce_(nonce),
      linked_(true) {}

ShmRing::ShmRing(ShmRing&& o) noexcept
    : name_(std::move(o.name_)),
      base_(std::exchange(o.base_, nullptr)),
      map_bytes_(o.map_bytes_),
      capacity_(o.capacity_),
      nonce_(o.nonce_),
      linked_(std::exchange(o.linked_, false)) {}

ShmRing& ShmRing::operator=(ShmRing&& o) noexcept {
  if (this != &o) {
    Unlink();
    if (base_ != nullptr) ::munmap(base_, map_bytes_);
    name_ = std::move(o.name_);
    base_ = std::exchange(o.base_, nullptr);
    map_bytes_ = o.map_bytes_;
    capacity_ = o.capacity_;
    nonce_ = o.nonce_;
    linked_ = std::exchange(o.linked_, false);
  }
  return *this;
}

ShmRing::~ShmRing() {
  Unlink();
  if (base_ != nullptr) ::munmap(base_, map_bytes_);
}

void ShmRing::Unlink() {
  if (linked_) ::shm_unlink(name_.c_str());
  linked_ = false;
}

ShmRing::Control* ShmRing::control() const {
  static_assert(sizeof(Control) <= kControlBytes);
  return reinterpret_cast<Control*>(base_);
}
std::byte* ShmRing::data() const { return base_ + kControlBytes; }

// A process killed between creating its segment and its successor mapping (and unlinking)
// it leaves /dev/shm/ringtrain-<pid>-<nonce> behind. Each Create removes those of this uid
// whose creator no longer exists, so a crash costs at most one segment until the next start.
// A pid reused by a live process keeps its file (it may be a live ring's): never a wrong
// unlink, at worst a late one.
static void RemoveSegmentsOfDeadProcesses() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string file = entry.path().filename().string();
    int pid = 0;
    char rest[32];
    if (std::sscanf(file.c_str(), "ringtrain-%d-%16[0-9a-f]", &pid, rest) != 2 || pid <= 0) {
      continue;
    }
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    ::shm_unlink(("/" + file).c_str());
  }
}

std::optional<ShmRing> ShmRing::Create(std::size_t capacity, std::string* error) {
  RemoveSegmentsOfDeadProcesses();
  const std::uint32_t cap = RoundCapacity(capacity);
  std::random_device rd;
  const std::uint64_t nonce = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char name[64];
  std::snprintf(name, sizeof(name), "/ringtrain-%d-%016llx", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(nonce));
  UniqueFd fd(::shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    *error = std::string("shm_open(") + name + ") failed: " + ErrnoText(errno);
    return std::nullopt;
  }
  const std::size_t bytes = kControlBytes + cap;
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
    *error = std::string("ftruncate(") + name + ") failed: " + ErrnoText(errno);
    ::shm_unlink(name);
    return std::nullopt;
  }
  // MAP_POPULATE: the first touch of a page costs ~12 us here; pay it now, not per message.
  void* base =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd.get(), 0);
  if (base == MAP_FAILED) {
    *error = std::string("mmap(") + name + ") failed: " + ErrnoText(errno);
    ::shm_unlink(name);
    return std::nullopt;
  }
  ShmRing ring(name, static_cast<std::byte*>(base), bytes, cap, nonce);
  Control* c = ring.control();
  c->nonce = nonce;
  c->capacity = cap;
  Ref(c->head).store(0, std::memory_order_relaxed);
  Ref(c->tail).store(0, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(c->magic).store(kShmMagic, std::memory_order_release);
  return ring;
}

std::optional<ShmRing> ShmRing::Open(const std::string& name, std::uint32_t capacity,
                                     std::uint64_t nonce, std::string* error) {
  if (capacity < kMinCapacity || capacity > kMaxCapacity || (capacity & (capacity - 1)) != 0) {
    *error = "offered ring capacity " + std::to_string(capacity) + " is not a power of two";
    return std::nullopt;
  }
  // Only names Create() makes, so a peer cannot point us at (and make us unlink) anything else.
  const std::string prefix = "/ringtrain-";
  if (name.size() > 64 || name.compare(0, prefix.size(), prefix) != 0 ||
      name.find_first_not_of("0123456789abcdef-", prefix.size()) != std::string::npos) {
    *error = "offered segment name '" + name + "' is not a ringtrain segment";
    return std::nullopt;
  }
  UniqueFd fd(::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0));
  if (!fd.valid()) {
    *error = "shm_open(" + name + ") failed: " + ErrnoText(errno);
    return std::nullopt;
  }
  const std::size_t bytes = kControlBytes + capacity;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || static_cast<std::size_t>(st.st_size) != bytes ||
      st.st_uid != ::geteuid()) {
    *error = "shared-memory segment " + name + " has the wrong size or owner";
    return std::nullopt;
  }
  void* base =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd.get(), 0);
  if (base == MAP_FAILED) {
    *error = "mmap(" + name + ") failed: " + ErrnoText(errno);
    return std::nullopt;
  }
  ShmRing ring(name, static_cast<std::byte*>(base), bytes, capacity, nonce);
  ring.linked_ = false;
  const Control* c = ring.control();
  if (std::atomic_ref<const std::uint64_t>(c->magic).load(std::memory_order_acquire) != kShmMagic ||
      c->nonce != nonce || c->capacity != capacity) {
    *error = "shared-memory segment " + name + " is not the one offered (magic/nonce differ)";
    return std::nullopt;
  }
  ::shm_unlink(name.c_str());  // mapped by both ends from here on: the name is not needed
  return ring;
}

std::size_t ShmRing::Write(const std::byte* src, std::size_t size) {
  Control* c = control();
  std::uint32_t head = Ref(c->head).load(std::memory_order_relaxed);  // ours
  const std::uint32_t tail = Ref(c->tail).load(std::memory_order_acquire);
  const std::size_t room = capacity_ - static_cast<std::uint32_t>(head - tail);
  const std::size_t total = std::min(size, room);
  const std::size_t mask = capacity_ - 1;
  for (std::size_t done = 0; done < total;) {
    const std::size_t piece = std::min(total - done, kPublishBytes);
    const std::size_t at = head & mask;
    const std::size_t first = std::min(piece, capacity_ - at);
    std::memcpy(data() + at, src + done, first);
    if (first < piece) std::memcpy(data(), src + done + first, piece - first);
    head += static_cast<std::uint32_t>(piece);
    done += piece;
    Ref(c->head).store(head, std::memory_order_seq_cst);
    if (Ref(c->consumer_waiting).load(std::memory_order_seq_cst) != 0) FutexWake(&c->head);
  }
  return total;
}

template <typename Use>
std::size_t ShmRing::Consume(std::size_t size, std::size_t unit, Use&& use) {
  Control* c = control();
  std::uint32_t tail = Ref(c->tail).load(std::memory_order_relaxed);  // ours
  const std::uint32_t head = Ref(c->head).load(std::memory_order_acquire);
  std::size_t total = std::min<std::size_t>(size, static_cast<std::uint32_t>(head - tail));
  total -= total % unit;
  const std::size_t mask = capacity_ - 1;
  // The capacity and the read position are multiples of `unit`, so no unit straddles the wrap.
  for (std::size_t done = 0; done < total;) {
    const std::size_t piece = std::min(total - done, kPublishBytes);
    const std::size_t at = tail & mask;
    const std::size_t first = std::min(piece, capacity_ - at);
    use(done, data() + at, first);
    if (first < piece) use(done + first, data(), piece - first);
    tail += static_cast<std::uint32_t>(piece);
    done += piece;
    // Only now, the piece used, may the producer write over it.
    Ref(c->tail).store(tail, std::memory_order_seq_cst);
    if (Ref(c->producer_waiting).load(std::memory_order_seq_cst) != 0) FutexWake(&c->tail);
  }
  return total;
}

std::size_t ShmRing::Read(std::byte* dst, std::size_t size) {
  return Consume(size, 1, [dst](std::size_t off, const std::byte* src, std::size_t n) {
    std::memcpy(dst + off, src, n);
  });
}

template <typename T>
std::size_t ShmRing::ReadAddImpl(T* dst, std::size_t count) {
  assert(Ref(control()->tail).load(std::memory_order_relaxed) % sizeof(T) == 0);
  const std::size_t bytes = Consume(
      count * sizeof(T), sizeof(T), [dst](std::size_t off, const std::byte* src, std::size_t n) {
        AddInto(dst + off / sizeof(T), reinterpret_cast<const T*>(src), n / sizeof(T));
      });
  return bytes / sizeof(T);
}

std::size_t ShmRing::ReadAdd(float* dst, std::size_t count) { return ReadAddImpl(dst, count); }
std::size_t ShmRing::ReadAdd(double* dst, std::size_t count) { return ReadAddImpl(dst, count); }

bool ShmRing::AlignWrite() {
  Control* c = control();
  const std::uint32_t head = Ref(c->head).load(std::memory_order_relaxed);  // ours
  const std::size_t pad = (kShmAlign - head % kShmAlign) % kShmAlign;
  if (pad == 0) return true;
  const std::uint32_t tail = Ref(c->tail).load(std::memory_order_acquire);
  if (capacity_ - static_cast<std::uint32_t>(head - tail) < pad) return false;
  Ref(c->head).store(head + static_cast<std::uint32_t>(pad), std::memory_order_seq_cst);
  if (Ref(c->consumer_waiting).load(std::memory_order_seq_cst) != 0) FutexWake(&c->head);
  return true;
}

bool ShmRing::AlignRead() {
  Control* c = control();
  const std::uint32_t tail = Ref(c->tail).load(std::memory_order_relaxed);  // ours
  const std::size_t pad = (kShmAlign - tail % kShmAlign) % kShmAlign;
  if (pad == 0) return true;
  const std::uint32_t head = Ref(c->head).load(std::memory_order_acquire);
  if (static_cast<std::uint32_t>(head - tail) < pad) return false;
  Ref(c->tail).store(tail + static_cast<std::uint32_t>(pad), std::memory_order_seq_cst);
  if (Ref(c->producer_waiting).load(std::memory_order_seq_cst) != 0) FutexWake(&c->tail);
  return true;
}

void ShmRing::WaitForSpace(std::chrono::milliseconds timeout, ShmPolls polls) {
  Control* c = control();
  const std::uint32_t head = Ref(c->head).load(std::memory_order_relaxed);
  auto full = [&](std::uint32_t tail) { return head - tail >= capacity_; };
  if (Poll(polls, [&] { return !full(Ref(c->tail).load(std::memory_order_acquire)); })) return;
  Ref(c->producer_waiting).store(1, std::memory_order_seq_cst);
  const std::uint32_t tail = Ref(c->tail).load(std::memory_order_seq_cst);
  if (full(tail)) FutexWait(&c->tail, tail, timeout);
  Ref(c->producer_waiting).store(0, std::memory_order_relaxed);
}

void ShmRing::WaitForData(std::chrono::milliseconds timeout, ShmPolls polls,
                          std::size_t min_bytes) {
  Control* c = control();
  const std::uint32_t tail = Ref(c->tail).load(std::memory_order_relaxed);
  auto short_of = [&](std::uint32_t head) {
    return static_cast<std::uint32_t>(head - tail) < min_bytes;
  };
  if (Poll(polls, [&] { return !short_of(Ref(c->head).load(std::memory_order_acquire)); })) {
    return;
  }
  Ref(c->consumer_waiting).store(1, std::memory_order_seq_cst);
  const std::uint32_t head = Ref(c->head).load(std::memory_order_seq_cst);
  if (short_of(head)) FutexWait(&c->head, head, timeout);
  Ref(c->consumer_waiting).store(0, std::memory_order_relaxed);
}

void ShmRing::WakeAll() {
  if (base_ == nullptr) return;
  FutexWake(&control()->head);
  FutexWake(&control()->tail);
}

}  // namespace ringtrain::allreduce::internal
