// train/agree.h — small agreements across ranks built from one sum-allreduce each.
//
// The Communicator only sums, so "gather" is done by slots: rank r writes its value into
// slot r of a zeroed [world x k] buffer; the sum is then every rank's value (x + 0 == x
// exactly). Every rank returns the same result.
#pragma once

#include <cstdint>
#include <vector>

#include "allreduce/communicator.h"

namespace ringtrain::train {

// Every rank's value, indexed by rank.
std::vector<std::int64_t> AllGatherInt(allreduce::Communicator& comm, std::int64_t value);
// The sorted union of every rank's values (each rank passes its own sorted distinct list).
std::vector<double> AgreeUnion(allreduce::Communicator& comm, const std::vector<double>& mine);

}  // namespace ringtrain::train
