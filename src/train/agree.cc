// train/agree.cc — slot-gathers over a sum-allreduce.
#include "train/agree.h"

#include <algorithm>

namespace ringtrain::train {

std::vector<std::int64_t> AllGatherInt(allreduce::Communicator& comm, std::int64_t value) {
  const auto world = static_cast<std::size_t>(comm.world_size());
  // Doubles hold integers exactly up to 2^53: enough for row and feature counts.
  std::vector<double> slots(world, 0.0);
  slots[static_cast<std::size_t>(comm.rank())] = static_cast<double>(value);
  comm.AllreduceSum(std::span<double>(slots));
  std::vector<std::int64_t> out(world);
  for (std::size_t r = 0; r < world; ++r) out[r] = static_cast<std::int64_t>(slots[r]);
  return out;
}

std::vector<double> AgreeUnion(allreduce::Communicator& comm, const std::vector<double>& mine) {
  auto counts = AllGatherInt(comm, static_cast<std::int64_t>(mine.size()));
  std::int64_t k = 0;
  for (auto c : counts) k = std::max(k, c);
  const auto world = static_cast<std::size_t>(comm.world_size());
  const auto width = static_cast<std::size_t>(k);
  std::vector<double> slots(world * width, 0.0);
  std::copy(
      mine.begin(), mine.end(),
      slots.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(comm.rank()) * width));
  if (!slots.empty()) comm.AllreduceSum(std::span<double>(slots));
  std::vector<double> all;
  for (std::size_t r = 0; r < world; ++r)
    for (std::size_t i = 0; i < static_cast<std::size_t>(counts[r]); ++i)
      all.push_back(slots[r * width + i]);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

}  // namespace ringtrain::train
