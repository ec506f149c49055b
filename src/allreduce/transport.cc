#include "allreduce/transport.h"

#include "common/error.h"

namespace ringtrain::allreduce {

std::string DescribeTag(const MessageTag& tag, std::uint64_t payload_bytes) {
  std::string name;
  std::string unit = "elements";
  switch (tag.op) {
    case Op::kAllreduceFloat:
      name = "allreduce<float>";
      break;
    case Op::kAllreduceDouble:
      name = "allreduce<double>";
      break;
    case Op::kBroadcast:
      name = "broadcast";
      unit = "bytes";
      break;
    case Op::kBarrier:
      name = "barrier";
      break;
    case Op::kAbortNotice:
      return "abort notice for rank " + std::to_string(tag.count);
    default:
      name = "unknown op " + std::to_string(static_cast<std::uint32_t>(tag.op));
  }
  return name + " #" + std::to_string(tag.seq) + " of " + std::to_string(tag.count) + " " + unit +
         " (message of " + std::to_string(payload_bytes) + " bytes)";
}

void Transport::StartAddExchange(const MessageTag& /*tag*/, std::span<const std::byte> /*send*/,
                                 std::span<std::byte> /*accum*/, Deadline /*deadline*/) {
  throw UsageError("StartAddExchange on a transport that cannot add on arrival", "ring transport");
}

void Transport::StartAddForwardExchange(const MessageTag& tag, std::span<const std::byte> send,
                                        std::span<std::byte> accum,
                                        std::span<std::byte> /*recv_next*/, Deadline deadline) {
  StartAddExchange(tag, send, accum, deadline);  // throws: no transport here adds on arrival
}

TransportError PeerError(const Ring& ring, int peer, const std::string& what,
                         const std::string& hint) {
  std::string where;
  if (peer >= 0 && peer < ring.world_size()) {
    const Member& m = ring.members[static_cast<std::size_t>(peer)];
    where = m.host + ":" + std::to_string(m.port);
  }
  return TransportError(what + " [peer " + ring.Describe(peer) + ", generation " +
                            std::to_string(ring.generation) + "]",
                        where,
                        hint.empty() ? "check that the peer process is alive and reachable; "
                                       "the job can be resumed with --resume"
                                     : hint);
}

}  // namespace ringtrain::allreduce
