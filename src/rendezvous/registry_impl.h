// rendezvous/registry_impl.h — CheckpointRegistry's state (internal to the rendezvous box).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "rendezvous/records.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {

struct CheckpointRegistry::Impl {
  ZkSession* session = nullptr;  // not owned unless `owned` holds it
  std::unique_ptr<ZkSession> owned;
  JobPaths paths;
  std::chrono::milliseconds timeout{30000};
  // (ring node version, generation) of the ring this process last received; empty for a
  // standalone registry, which may not Record. Throws if there is no ring yet.
  std::function<std::pair<int, std::int64_t>()> fence;
};

}  // namespace ringtrain::rendezvous
