// allreduce/tcp.h — the TCP transport: listener, ring connection, communicator factory.
//
// Order of use (DESIGN.md): Bind a TcpListener before rendezvous (port 0 lets the kernel
// choose; port() goes into the member znode); once rendezvous yields a Ring, ConnectTcpRing
// connects to the successor (retrying until the deadline), accepts the predecessor, and
// checks a handshake on each connection (handshake.h). Stray connections (another job,
// wrong token, stale generation, garbage, or silent ones) are refused and closed without
// disturbing the ring; acceptance goes on until the right predecessor arrives or the
// deadline passes. The listener outlives rings: reuse it for the next generation.
// No socket header here; SIGPIPE never fires (MSG_NOSIGNAL on every send).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "allreduce/communicator.h"
#include "allreduce/ring_communicator.h"
#include "allreduce/transport.h"
#include "common/ring.h"

namespace ringtrain::allreduce {

// Whether a ring whose members share one host moves its data through shared memory
// (docs/allreduce.md, "Shared-memory links"). kAuto: every link offers a segment over its
// handshaken connection and the ranks vote round the ring; if any link cannot map it (another
// host, another /dev/shm, a rank with kOff), the whole ring stays on TCP.
enum class SharedMemory { kOff, kAuto };

inline constexpr int kShmSpinsAuto = -1;
inline constexpr int kShmAutoSpins = 2000;
inline constexpr int kShmDefaultYieldMicros = 200;

struct TcpOptions {
  std::string bind_address = "0.0.0.0";      // for callers that Bind from options
  std::chrono::milliseconds timeout{60000};  // connection set-up and each collective
  std::size_t segment_bytes = kDefaultSegmentBytes;
  std::size_t gather_bytes = kDefaultGatherBytes;  // RingOptions::gather_bytes
  int socket_buffer_bytes = 0;  // 0 = kernel autotuning; e.g. 4096 in tests (partial I/O)
  SharedMemory shared_memory = SharedMemory::kOff;
  std::size_t shm_ring_bytes = std::size_t{4} << 20;  // per link; a power of two >= 4 KiB
  // Polls of the shared counter before sleeping (futex) in a wait. kShmSpinsAuto: spin
  // (kShmAutoSpins) when the ring has no more ranks than the host has CPUs, so a rank keeps
  // its core and is not woken late (np=2 on 2 cores: 64-128 KiB below MPI_Allreduce in 9 of
  // 20 runs without, none with); else 0 (4 ranks on 2 cores: a spinner takes its neighbour's
  // core, 1000 spins cost 4x at 64 KiB).
  int shm_spins = kShmSpinsAuto;
  // Then polls with sched_yield() between looks for up to this long before the futex. With
  // more ranks than CPUs (3 or 4 on 2 cores) a rank that waits for its neighbour gives it the
  // core: MPI_Allreduce / ring_shm medians at 64 KiB 0.65x -> 1.08x (np=3), 0.41x -> 1.20x
  // (np=4) (docs/allreduce.md, "Yielding before the futex"). 0: straight to the futex.
  std::chrono::microseconds shm_yield_for{kShmDefaultYieldMicros};
  // Start-up tuning (RingCommunicator::Tune) of the segment size per buffer size class between
  // segment_bytes, 1 MiB and 64 KiB, on shared-memory links only (docs/allreduce.md, "Start-up
  // tuning": it left loopback TCP links slower). Off: segment_bytes for every size.
  bool tune = false;
  std::chrono::milliseconds tune_budget{400};
};

class TcpListener {
 public:
  // Binds and listens on address:port (port 0 = any free port). Throws TransportError.
  static TcpListener Bind(const std::string& address, std::uint16_t port = 0);

  TcpListener(TcpListener&& other) noexcept;
  TcpListener& operator=(TcpListener&& other) noexcept;
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  ~TcpListener();

  std::uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  int fd() const { return fd_; }  // for the transport's accept loop

  // Any thread: a ConnectTcpTransport on this listener for a ring of generation <=
  // `generation`, running now or started later, throws a TransportError at once instead of
  // waiting out its deadline (that ring is known to be gone). Later generations connect as
  // usual, so one listener serves every generation of a run.
  void AbortConnect(std::int64_t generation);
  // For ConnectTcpTransport: whether a connect of `generation` is aborted; an eventfd that
  // turns readable on every AbortConnect, and how to clear it.
  bool ConnectAborted(std::int64_t generation) const;
  int abort_fd() const;
  void ClearAbortFd() const;

 private:
  struct AbortState;
  TcpListener(int fd, std::string address, std::uint16_t port);
  int fd_ = -1;
  std::string address_;
  std::uint16_t port_ = 0;
  std::unique_ptr<AbortState> abort_;
};

// Connects the ring's TCP transport: successor and predecessor handshaken. Throws a
// TransportError naming the neighbour at fault within options.timeout, or at once after
// listener.AbortConnect(g) with g >= ring.generation. A world of one needs
// no sockets (returns nullptr).
std::unique_ptr<Transport> ConnectTcpTransport(TcpListener& listener, const Ring& ring,
                                               const TcpOptions& options);
// The trainer's entry point: a RingCommunicator over ConnectTcpTransport (tuned when
// options.tune, before it returns).
std::unique_ptr<RingCommunicator> ConnectTcpRing(TcpListener& listener, const Ring& ring,
                                                 const TcpOptions& options);

}  // namespace ringtrain::allreduce
