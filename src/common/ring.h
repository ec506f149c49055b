// common/ring.h — the Ring value: what rendezvous produces and allreduce consumes.
//
// A Ring is plain data: the generation, this process's rank, and every member's address in
// ring order. rendezvous/ builds it from ZooKeeper; allreduce/ only reads it, so collectives
// are tested with a Ring built by hand and no ZooKeeper at all.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringtrain {

struct Member {
  std::string name;        // member znode name (e.g. "_c_<uuid>-m-0000000003"); may be empty
  std::string host;        // address peers connect to (advertised address)
  std::uint16_t port = 0;  // TCP transport port (0 if the transport is MPI only)
  int mpi_rank = -1;       // rank in MPI_COMM_WORLD, -1 without MPI
  std::int64_t pid = 0;
  std::string uuid;  // the process's uuid (protected-create token)

  bool operator==(const Member&) const = default;
};

struct Ring {
  std::string job;  // job name
  std::int64_t generation = 0;
  int rank = 0;                 // this process's position in `members`
  std::vector<Member> members;  // ring order; members[0] is the leader
  std::string token;            // job token, checked by the transport handshake

  int world_size() const { return static_cast<int>(members.size()); }
  int next() const { return (rank + 1) % world_size(); }
  int prev() const { return (rank + world_size() - 1) % world_size(); }
  bool is_leader() const { return rank == 0; }
  // "rank 2 (10.0.0.3:4711)" — how errors name a peer.
  std::string Describe(int r) const;
};

// JSON codec for the ring znode payload and for `status --json`. Decoding a malformed
// payload throws RendezvousError naming `where`.
std::string MemberToJson(const Member& m);
Member MemberFromJson(const std::string& text, const std::string& where);

}  // namespace ringtrain
