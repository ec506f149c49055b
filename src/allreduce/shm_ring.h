// allreduce/shm_ring.h — internal: a single-producer single-consumer byte ring in a
// shared-memory segment, one per same-host ring link (sender = producer).
//
// The sender creates the segment (POSIX shm, O_EXCL, mode 0600) and offers its name over the
// link's handshaken TCP connection; the receiver opens and maps it, checks the magic and the
// offered nonce, and unlinks the name at once (the sender unlinks it too once the link is
// settled, so a receiver that never came leaves nothing behind). Layout: one 4 KiB control page
// (head and tail on their own cache lines), then `capacity` data bytes (a power of two).
// head/tail count bytes modulo 2^32; used = head - tail. Each side publishes its counter after
// at most kPublishBytes copied, so the other side can start on a large message early. The
// consumer either copies bytes out (Read) or adds elements straight out of the segment into
// its own buffer (ReadAdd: the reduce-scatter's one pass over received bytes).
//
// Waiting: a short spin, then FUTEX_WAIT (shared, not private: the two ends are different
// mappings, usually in different processes) on the counter the other side moves, with a
// timeout; the other side wakes only when a "waiting" flag is set (Dekker-style: store flag,
// load counter / store counter, load flag, all seq_cst). Nothing here blocks without a timeout.
// Thread-safety: one producer thread and one consumer thread per segment; Wake*() may be called
// from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace ringtrain::allreduce::internal {

inline constexpr std::size_t kDefaultShmRingBytes = std::size_t{4} << 20;
// Every message starts at a multiple of this in the segment, so a payload of doubles or
// floats (after the 24-byte header) is aligned for ReadAdd.
inline constexpr std::size_t kShmAlign = 8;

// This host's boot id (/proc/sys/kernel/random/boot_id), or empty if unreadable: two ends
// with the same non-empty boot id run on one kernel.
std::string BootId();

// How a waiting end looks at the shared counter before it sleeps in FUTEX_WAIT: `spins` busy
// polls, then polls with sched_yield() between them for up to `yield_for` (a rank that shares its
// core with its neighbour hands the core over instead of sleeping, and is back as soon as the
// neighbour waits in turn; a futex sleep costs a wake-up syscall and a scheduler round trip per
// step).
struct ShmPolls {
  int spins = 0;
  std::chrono::microseconds yield_for{0};
};

class ShmRing {
 public:
  // Sender side: creates a fresh segment with `capacity` data bytes (rounded up to a power
  // of two, at least 4 KiB). Returns nullopt and sets *error on failure.
  static std::optional<ShmRing> Create(std::size_t capacity, std::string* error);
  // Receiver side: opens the segment `name` of `capacity` bytes, checks its nonce, unlinks
  // the name. Returns nullopt and sets *error on failure.
  static std::optional<ShmRing> Open(const std::string& name, std::uint32_t capacity,
                                     std::uint64_t nonce, std::string* error);

  ShmRing(ShmRing&& other) noexcept;
  ShmRing& operator=(ShmRing&& other) noexcept;
  ShmRing(const ShmRing&) = delete;
  ShmRing& operator=(const ShmRing&) = delete;
  ~ShmRing();

  const std::string& name() const { return name_; }
  std::uint32_t capacity() const { return capacity_; }
  std::uint64_t nonce() const { return nonce_; }
  void Unlink();  // removes the name (idempotent; the mapping stays)

  // Producer: copies up to size bytes in; returns how many (0 when full). Never blocks.
  std::size_t Write(const std::byte* data, std::size_t size);
  // Consumer: copies up to size bytes out; returns how many (0 when empty). Never blocks.
  std::size_t Read(std::byte* data, std::size_t size);
  // Consumer: adds up to `count` whole elements straight out of the segment into dst
  // (dst[i] = dst[i] + segment[i]), with no copy in between; returns how many (0 when fewer
  // than one element's bytes are in). The read position must be a multiple of kShmAlign
  // plus whole elements (the transport aligns every message). Never blocks.
  std::size_t ReadAdd(float* dst, std::size_t count);
  std::size_t ReadAdd(double* dst, std::size_t count);
  // Producer / consumer: move the position on to the next multiple of kShmAlign (the bytes
  // skipped carry nothing); false while the room / the bytes for that are not there yet.
  // Both ends call it at the same point of the stream (the start of each message), so they
  // skip the same bytes. Never blocks.
  bool AlignWrite();
  bool AlignRead();

  // Producer: waits until there is free space or `timeout` passes (or a Wake). Consumer:
  // waits until at least `min_bytes` (>= 1) are there to read, likewise. Either may return
  // spuriously. Before sleeping in FUTEX_WAIT each looks at the counter polls.spins times
  // (busy), then with sched_yield() between looks for up to polls.yield_for.
  void WaitForSpace(std::chrono::milliseconds timeout, ShmPolls polls);
  void WaitForData(std::chrono::milliseconds timeout, ShmPolls polls, std::size_t min_bytes = 1);
  // Any thread: wakes whoever sleeps on this segment (used by Abort and on failure).
  void WakeAll();

 private:
  struct Control;
  ShmRing(std::string name, std::byte* base, std::size_t map_bytes, std::uint32_t capacity,
          std::uint64_t nonce);
  Control* control() const;
  std::byte* data() const;
  // Consumer: hands up to `size` readable bytes, in whole units of `unit` bytes, to
  // use(offset, segment bytes, n) piece by piece, publishing the tail after each piece.
  template <typename Use>
  std::size_t Consume(std::size_t size, std::size_t unit, Use&& use);
  template <typename T>
  std::size_t ReadAddImpl(T* dst, std::size_t count);

  std::string name_;
  std::byte* base_ = nullptr;
  std::size_t map_bytes_ = 0;
  std::uint32_t capacity_ = 0;
  std::uint64_t nonce_ = 0;
  bool linked_ = false;
};

}  // namespace ringtrain::allreduce::internal
