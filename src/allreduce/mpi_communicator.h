// allreduce/mpi_communicator.h — collectives over MPI (target ringtrain::allreduce_mpi).
//
// Two communicators, both needing a live MpiSession (mpi_session.h) and both driven from the
// thread that created it:
//  - MakeMpiRingCommunicator: our RingCommunicator over an MPI point-to-point transport
//    whose neighbours are ring.members[next/prev].mpi_rank (MPI_Isend/Irecv polled under the
//    deadline; a header message on the first exchange of each collective on each link catches
//    length and order mismatches).
//  - MakeMpiCommunicator: the reference, MPI_Allreduce / MPI_Bcast / MPI_Barrier on
//    MPI_COMM_WORLD. Its calls block inside MPI, which cannot cancel them, so the deadline
//    is kept by a watchdog thread: a call blocked longer than the timeout, or still blocked
//    when Abort() is called, ends the process with one ERROR line and exit code 4. Abort()
//    also makes later calls throw TransportError.
// No mpi.h here.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "allreduce/communicator.h"
#include "allreduce/ring_communicator.h"
#include "allreduce/transport.h"
#include "common/ring.h"

namespace ringtrain::allreduce {

// The segment under Open MPI's default shared-memory eager limit (4 KiB): every message above
// it pays a rendezvous handshake, and 1 MiB measured best then (docs/allreduce.md). Under the
// 32 KiB limit MpiSession sets, the segment is the largest message that still goes eagerly
// (the limit less kMpiEagerHeaderSlack): eager messages through the shared-memory queues,
// pipelined with the reduction, measured np=2 1.4-2.5x the 1 MiB segments from 64 KiB to
// 256 MiB, np=4 within noise.
inline constexpr std::size_t kDefaultMpiSegmentBytes = 1024 * 1024;
inline constexpr std::size_t kMpiEagerHeaderSlack = 256;  // Open MPI's headers count against it

struct MpiOptions {
  std::chrono::milliseconds timeout{60000};
  std::size_t segment_bytes = 0;                   // 0: by the eager limit, as above
  std::size_t gather_bytes = kDefaultGatherBytes;  // RingOptions::gather_bytes
  // Start-up tuning (RingCommunicator::Tune) of the ring's segment size per buffer size class,
  // between segment_bytes (or the eager-limit default) and the rendezvous sizes 256 KiB and
  // 1 MiB: on some hosts eager segments lose to Open MPI's single-copy path at 256 KiB-16 MiB
  // (docs/allreduce.md, "Start-up tuning"). Off: segment_bytes for every size.
  bool tune = false;
  std::chrono::milliseconds tune_budget{400};
};

// Every member of `ring` needs mpi_rank >= 0. A world of one returns nullptr.
std::unique_ptr<Transport> MakeMpiTransport(const Ring& ring);
// Collective over the ring's ranks when options.tune (they all measure together).
std::unique_ptr<RingCommunicator> MakeMpiRingCommunicator(const Ring& ring,
                                                          const MpiOptions& options = {});
std::unique_ptr<Communicator> MakeMpiCommunicator(const MpiOptions& options = {});

}  // namespace ringtrain::allreduce
