// allreduce_bench — ring allreduce (over TCP, over shared-memory links, and over MPI
// point-to-point) beside MPI_Allreduce, plus, for every size from 1 MiB, a plain TCP stream of
// a buffer of that size (the loopback ceiling with the same working set) and the same stream on
// every ring link at once (the ceiling of np concurrent links). Run under mpirun:
//
//   mpirun -np N allreduce_bench [--segment-bytes B] [--gather-bytes B] [--max-bytes B]
//       [--socket-buffer-bytes B] [--min-bytes B]
//       [--methods mpi,ring_mpi,ring_tcp,ring_shm,tcp_stream,tcp_ring_stream]
//       [--shm-ring-bytes B] [--shm-segment-bytes B] [--shm-spins N (-1: auto)] [--shm-yield-us N]
//       [--tune 0|1]
//       [--factor F]
//
// The rings measure their segment sizes at start-up (RingCommunicator::Tune, as the trainer's
// --allreduce-segment auto) unless --tune 0 or a --segment-bytes pins them; rank 0 prints each
// ring's schedule as a JSON line {"method", "np", "tuned", "tune_seconds", "segments"}.
// Sizes go from --min-bytes to --max-bytes by a factor of --factor (default 4).
//
// Rank 0 prints one JSON line per (method, size): method, np, bytes, seconds (median of the
// timed repetitions, each started after a barrier and measured as the slowest rank),
// algbw_gbps = bytes / seconds / 1e9, busbw_gbps = algbw * 2(np-1)/np (nccl-tests). float
// buffers, allocated and touched once and reused by every method.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "allreduce/mpi_communicator.h"
#include "allreduce/mpi_session.h"
#include "allreduce/tcp.h"

namespace {

using ringtrain::allreduce::Communicator;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double MaxOverRanks(Communicator& reference, double x) {
  std::vector<double> v(static_cast<std::size_t>(reference.world_size()), 0.0);
  v[static_cast<std::size_t>(reference.rank())] = x;
  reference.AllreduceSum(std::span<double>(v));
  return *std::max_element(v.begin(), v.end());
}

// The Open MPI shared-memory eager limit every method of this run had (MpiSession sets 32 KiB
// unless mpirun, the environment or a parameter file chose one; 0 if MPI cannot say), so runs
// with different settings are told apart.
std::size_t EagerLimit() {
  static const std::size_t limit = ringtrain::allreduce::SharedMemoryEagerLimit();
  return limit;
}

// One JSON line (rank 0 prints).
void PrintLine(const char* method, int np, std::size_t bytes, double seconds, double algbw,
               double busbw) {
  std::printf(
      "{\"method\":\"%s\",\"np\":%d,\"bytes\":%zu,\"seconds\":%.9f,\"algbw_gbps\":%.4f,"
      "\"busbw_gbps\":%.4f,\"vader_eager_limit\":%zu}\n",
      method, np, bytes, seconds, algbw, busbw, EagerLimit());
  std::fflush(stdout);
}

// An allreduce of `bytes` in `seconds`: algbw and busbw = algbw * 2(np-1)/np.
void Print(const char* method, int np, std::size_t bytes, double seconds) {
  const double algbw = static_cast<double>(bytes) / seconds / 1e9;
  PrintLine(method, np, bytes, seconds, algbw, np > 1 ? algbw * 2.0 * (np - 1) / np : algbw);
}

// A stream of `total` bytes (a buffer of `buffer_bytes` over and over) in `seconds`: the rate
// of one link, as algbw and busbw.
void PrintStream(const char* method, int np, std::size_t buffer_bytes, std::size_t total,
                 double seconds) {
  const double gbps = static_cast<double>(total) / seconds / 1e9;
  PrintLine(method, np, buffer_bytes, seconds, gbps, gbps);
}

// A loopback listener on a free port (*port set), and a TCP_NODELAY connection to one.
int ListenLoopback(double* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(fd, 1);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}
int ConnectLoopback(double port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Median time of one allreduce of `floats` elements (slowest rank per repetition).
double TimeAllreduce(Communicator& comm, Communicator& reference, float* data, std::size_t floats) {
  const std::size_t bytes = floats * sizeof(float);
  const int reps = static_cast<int>(
      std::clamp<std::size_t>((256u << 20) / std::max<std::size_t>(bytes, 1), 5, 50));
  std::span<float> span(data, floats);
  comm.AllreduceSum(span);  // warm-up
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    reference.Barrier();
    const auto t0 = Clock::now();
    comm.AllreduceSum(span);
    times.push_back(MaxOverRanks(reference, Seconds(t0, Clock::now())));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// One TCP stream rank 0 -> rank 1 over loopback, sending a buffer of `buffer_bytes` over and
// over (at least 256 MiB in all): the ceiling a TCP ring can reach with the same working set
// (a 4 MiB buffer stays in cache; a 64 MiB one streams from memory like the ring's).
void TcpStream(Communicator& reference, int np, std::size_t buffer_bytes) {
  if (np < 2) return;
  const int rank = reference.rank();
  const std::size_t total = std::max<std::size_t>(std::size_t{256} << 20, 4 * buffer_bytes);
  std::vector<char> buf(buffer_bytes, 1);
  int listen_fd = -1;
  double port = 0;
  if (rank == 1) listen_fd = ListenLoopback(&port);
  port = MaxOverRanks(reference, port);
  double seconds = 0;
  if (rank == 0) {
    const int fd = ConnectLoopback(port);
    if (fd >= 0) {
      for (std::size_t sent = 0; sent < total;) {
        const std::size_t off = sent % buffer_bytes;
        const ssize_t n =
            ::send(fd, buf.data() + off, std::min(buffer_bytes - off, total - sent), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      ::close(fd);
    }
  } else if (rank == 1) {
    const int fd = ::accept(listen_fd, nullptr, nullptr);
    std::size_t got = 0;
    Clock::time_point t0;
    while (got < total) {
      const std::size_t off = got % buffer_bytes;
      const ssize_t n = ::recv(fd, buf.data() + off, std::min(buffer_bytes - off, total - got), 0);
      if (n <= 0) break;
      if (got == 0) t0 = Clock::now();
      got += static_cast<std::size_t>(n);
    }
    seconds = Seconds(t0, Clock::now());
    ::close(fd);
    ::close(listen_fd);
  }
  seconds = MaxOverRanks(reference, seconds);
  if (rank == 0) PrintStream("tcp_stream", np, buffer_bytes, total, seconds);
}

// Every rank streams a buffer of `buffer_bytes` over and over to its ring successor over
// loopback while receiving as much from its predecessor (non-blocking, one thread and one poll
// loop, as the ring's), np links at once: the ceiling of a TCP ring's links on this machine, which
// at np=4 share two cores (tcp_stream, one link alone, has the whole machine). Prints the per-link
// rate (slowest link) as algbw and busbw.
void TcpRingStream(Communicator& reference, int np, std::size_t buffer_bytes) {
  if (np < 2) return;
  const int rank = reference.rank();
  const std::size_t total = std::max<std::size_t>(std::size_t{256} << 20, 4 * buffer_bytes);
  std::vector<char> out(buffer_bytes, 1);
  std::vector<char> in(buffer_bytes, 0);
  std::vector<double> ports(static_cast<std::size_t>(np), 0.0);
  const int listen_fd = ListenLoopback(&ports[static_cast<std::size_t>(rank)]);
  reference.AllreduceSum(std::span<double>(ports));
  const int next_fd = ConnectLoopback(ports[static_cast<std::size_t>((rank + 1) % np)]);
  const bool connected = next_fd >= 0;
  const int prev_fd = ::accept(listen_fd, nullptr, nullptr);
  reference.Barrier();
  // One thread per rank, as in the ring: non-blocking send and receive under one poll().
  if (connected) ::fcntl(next_fd, F_SETFL, ::fcntl(next_fd, F_GETFL) | O_NONBLOCK);
  if (prev_fd >= 0) ::fcntl(prev_fd, F_SETFL, ::fcntl(prev_fd, F_GETFL) | O_NONBLOCK);
  const auto t0 = Clock::now();
  std::size_t sent = connected ? 0 : total;
  std::size_t got = prev_fd >= 0 ? 0 : total;
  while (sent < total || got < total) {
    if (sent < total) {
      const std::size_t off = sent % buffer_bytes;
      const ssize_t n = ::send(next_fd, out.data() + off,
                               std::min(buffer_bytes - off, total - sent), MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      if (n == 0 || (n < 0 && errno != EAGAIN)) sent = total;
    }
    if (got < total) {
      const std::size_t off = got % buffer_bytes;
      const ssize_t n =
          ::recv(prev_fd, in.data() + off, std::min(buffer_bytes - off, total - got), 0);
      if (n > 0) got += static_cast<std::size_t>(n);
      if (n == 0 || (n < 0 && errno != EAGAIN)) got = total;
    }
    if (sent == total && got == total) break;
    pollfd fds[2] = {{sent < total ? next_fd : -1, POLLOUT, 0},
                     {got < total ? prev_fd : -1, POLLIN, 0}};
    ::poll(fds, 2, 1000);
  }
  const double seconds = MaxOverRanks(reference, Seconds(t0, Clock::now()));
  if (connected) ::close(next_fd);
  if (prev_fd >= 0) ::close(prev_fd);
  ::close(listen_fd);
  if (rank == 0) PrintStream("tcp_ring_stream", np, buffer_bytes, total, seconds);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ringtrain::allreduce;
  MpiSession session(&argc, &argv);
  std::size_t segment_bytes = 0;  // 0: each transport's default
  std::size_t gather_bytes = kDefaultGatherBytes;
  int socket_buffer_bytes = 0;
  std::size_t min_bytes = 4096;
  std::size_t max_bytes = std::size_t{256} << 20;
  std::size_t shm_ring_bytes = 0;     // 0: TcpOptions' default
  std::size_t shm_segment_bytes = 0;  // 0: as ring_tcp
  int shm_spins = TcpOptions{}.shm_spins;
  auto shm_yield_for = TcpOptions{}.shm_yield_for;
  int tune = -1;  // -1: on unless --segment-bytes pins the segments
  std::size_t factor = 4;
  std::string methods = "mpi,ring_mpi,ring_tcp,ring_shm,tcp_stream,tcp_ring_stream";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--segment-bytes") segment_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--socket-buffer-bytes") socket_buffer_bytes = std::atoi(argv[i + 1]);
    if (flag == "--gather-bytes") gather_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--min-bytes") min_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--max-bytes") max_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--methods") methods = argv[i + 1];
    if (flag == "--shm-ring-bytes") shm_ring_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--shm-segment-bytes") shm_segment_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--shm-spins") shm_spins = std::atoi(argv[i + 1]);
    if (flag == "--shm-yield-us") shm_yield_for = std::chrono::microseconds(std::atoi(argv[i + 1]));
    if (flag == "--tune") tune = std::atoi(argv[i + 1]);
    if (flag == "--factor")
      factor = std::max<std::size_t>(2, std::strtoull(argv[i + 1], nullptr, 10));
  }
  const int np = session.size();
  const int rank = session.rank();
  // --methods: a comma-separated list of exact names.
  std::set<std::string> wanted;
  for (std::size_t b = 0; b <= methods.size();) {
    const std::size_t e = std::min(methods.find(',', b), methods.size());
    wanted.insert(methods.substr(b, e - b));
    b = e + 1;
  }
  for (const std::string& name : wanted) {
    static const std::set<std::string> known{"mpi",      "ring_mpi",   "ring_tcp",
                                             "ring_shm", "tcp_stream", "tcp_ring_stream"};
    if (known.count(name) == 0) {
      if (rank == 0) {
        std::fprintf(stderr,
                     "allreduce_bench: --methods: unknown method '%s'; use a comma-separated "
                     "list of mpi, ring_mpi, ring_tcp, ring_shm, tcp_stream, tcp_ring_stream\n",
                     name.c_str());
      }
      return 2;
    }
  }
  auto reference = MakeMpiCommunicator();

  ringtrain::Ring ring;
  ring.job = "bench";
  ring.token = "bench";
  ring.generation = 1;
  ring.rank = rank;
  // One listener per TCP-based ring (ring_tcp, ring_shm), ports shared through MPI.
  auto listener = TcpListener::Bind("127.0.0.1", 0);
  auto shm_listener = TcpListener::Bind("127.0.0.1", 0);
  std::vector<double> ports(2 * static_cast<std::size_t>(np), 0.0);
  ports[static_cast<std::size_t>(rank)] = listener.port();
  ports[static_cast<std::size_t>(np + rank)] = shm_listener.port();
  reference->AllreduceSum(std::span<double>(ports));
  ringtrain::Ring shm_ring = ring;
  for (int r = 0; r < np; ++r) {
    ringtrain::Member m;
    m.host = "127.0.0.1";
    m.port = static_cast<std::uint16_t>(ports[static_cast<std::size_t>(r)]);
    m.mpi_rank = r;
    ring.members.push_back(m);
    m.port = static_cast<std::uint16_t>(ports[static_cast<std::size_t>(np + r)]);
    shm_ring.members.push_back(m);
  }
  if (tune < 0) tune = segment_bytes == 0 ? 1 : 0;
  TcpOptions tcp_options;
  tcp_options.tune = tune != 0;
  if (segment_bytes != 0) tcp_options.segment_bytes = segment_bytes;
  tcp_options.gather_bytes = gather_bytes;
  tcp_options.socket_buffer_bytes = socket_buffer_bytes;
  // Each ring tunes while it is built (collective), in the same order on every rank.
  auto schedule = [&](const char* name, const RingCommunicator& c) {
    if (rank != 0 || wanted.count(name) == 0) return;
    const RingTuneResult& t = c.tune_result();
    std::string segs;
    for (std::size_t k = 0; k < kSegmentClasses; ++k) {
      segs += (k ? "," : "") + std::string("[") + std::to_string(kSegmentClassBytes[k]) + "," +
              std::to_string(c.SegmentBytesFor(kSegmentClassBytes[k])) + "]";
    }
    std::printf(
        "{\"method\":\"%s\",\"np\":%d,\"tuned\":%s,\"classes_measured\":%d,"
        "\"tune_seconds\":%.4f,\"segments\":[%s]}\n",
        name, np, tune != 0 ? "true" : "false", t.classes_measured, t.seconds, segs.c_str());
    std::fflush(stdout);
  };
  auto ring_tcp = ConnectTcpRing(listener, ring, tcp_options);
  TcpOptions shm_options = tcp_options;
  shm_options.shared_memory = SharedMemory::kAuto;
  if (shm_ring_bytes != 0) shm_options.shm_ring_bytes = shm_ring_bytes;
  if (shm_segment_bytes != 0) shm_options.segment_bytes = shm_segment_bytes;
  shm_options.shm_spins = shm_spins;
  shm_options.shm_yield_for = shm_yield_for;
  auto ring_shm = ConnectTcpRing(shm_listener, shm_ring, shm_options);
  MpiOptions mpi_options{std::chrono::seconds(60), segment_bytes, gather_bytes};  // 0: default
  mpi_options.tune = tune != 0;
  auto ring_mpi = MakeMpiRingCommunicator(ring, mpi_options);
  schedule("ring_tcp", *ring_tcp);
  schedule("ring_shm", *ring_shm);
  schedule("ring_mpi", *ring_mpi);

  // One buffer, touched once, reused by every method and size.
  std::vector<float> data(max_bytes / sizeof(float), 0.0f);
  std::memset(data.data(), 0, data.size() * sizeof(float));

  struct Method {
    const char* name;
    Communicator* comm;
  };
  std::vector<Method> list;
  for (const Method& m : {Method{"mpi", reference.get()}, Method{"ring_mpi", ring_mpi.get()},
                          Method{"ring_tcp", ring_tcp.get()}, Method{"ring_shm", ring_shm.get()}}) {
    if (wanted.count(m.name) != 0) list.push_back(m);
  }
  for (std::size_t bytes = min_bytes; bytes <= max_bytes; bytes *= factor) {
    for (const Method& m : list) {
      const double s = TimeAllreduce(*m.comm, *reference, data.data(), bytes / sizeof(float));
      if (rank == 0) Print(m.name, np, bytes, s);
    }
    if (bytes < (std::size_t{1} << 20)) continue;  // the stream ceilings from 1 MiB
    if (wanted.count("tcp_stream") != 0) TcpStream(*reference, np, bytes);
    if (wanted.count("tcp_ring_stream") != 0) TcpRingStream(*reference, np, bytes);
  }
  return 0;
}
