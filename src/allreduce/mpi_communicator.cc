// MpiCommunicator: the reference collectives, MPI_Allreduce & co. on MPI_COMM_WORLD.
#include "allreduce/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <string>

#include "common/error.h"

namespace ringtrain::allreduce {
namespace {

void Check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw TransportError(
      std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(len)),
      "MPI_COMM_WORLD", "a rank of the MPI job failed; resume with --resume");
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const MpiOptions& options) : timeout_(options.timeout) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  void AllreduceSum(std::span<float> data) override { Allreduce(data, MPI_FLOAT); }
  void AllreduceSum(std::span<double> data) override { Allreduce(data, MPI_DOUBLE); }
  void Broadcast(std::span<std::byte> data, int root) override {
    CheckUsable();
    for (std::size_t off = 0; off < data.size(); off += INT_MAX) {
      const std::size_t n = std::min<std::size_t>(INT_MAX, data.size() - off);
      Check(MPI_Bcast(data.data() + off, static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD),
            "MPI_Bcast");
    }
  }
  void Barrier() override {
    CheckUsable();
    Check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  }
  void Abort() override { aborted_.store(true, std::memory_order_release); }
  std::chrono::milliseconds timeout() const override { return timeout_; }

 private:
  void CheckUsable() const {
    if (aborted_.load(std::memory_order_acquire)) {
      throw TransportError("collective called on an aborted MPI communicator", "MPI_COMM_WORLD");
    }
  }
  template <typename T>
  void Allreduce(std::span<T> data, MPI_Datatype type) {
    CheckUsable();
    for (std::size_t off = 0; off < data.size(); off += INT_MAX) {
      const std::size_t n = std::min<std::size_t>(INT_MAX, data.size() - off);
      Check(MPI_Allreduce(MPI_IN_PLACE, data.data() + off, static_cast<int>(n), type, MPI_SUM,
                          MPI_COMM_WORLD),
            "MPI_Allreduce");
    }
  }

  int rank_ = 0;
  int world_ = 1;
  std::chrono::milliseconds timeout_;
  std::atomic<bool> aborted_{false};
};

}  // namespace

std::unique_ptr<Communicator> MakeMpiCommunicator(const MpiOptions& options) {
  return std::make_unique<MpiCommunicator>(options);
}

}  // namespace ringtrain::allreduce
