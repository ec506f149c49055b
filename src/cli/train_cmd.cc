// cli/train_cmd.cc — `ringtrain train`: options -> communicator -> train::Train.
//
// Standalone (--ranks 1 without --zk, not under mpirun): a SelfCommunicator, no ZooKeeper.
// Distributed: bind a TCP listener -> rendezvous::Join (member = advertised host, listener
// port, MPI rank, pid) -> WaitForRing -> ConnectTcpRing -> train -> leader writes the model
// -> Leave. The rendezvous ring-lost hook aborts the communicator, so a blocked allreduce
// ends with TransportError (exit code 4) naming the reason instead of waiting out its
// deadline. This file is the only place of the train path that reads the environment.
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "allreduce/communicator.h"
#include "allreduce/tcp.h"
#include "cli/command.h"
#include "cli/options.h"
#include "common/deadline.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/log.h"
#include "rendezvous/rendezvous.h"
#include "train/trainer.h"

namespace ringtrain::cli {
namespace {

struct MpiEnv {
  bool present = false;
  int rank = -1;
  int size = 0;
};

MpiEnv DetectMpi() {
  MpiEnv env;
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (size == nullptr) size = std::getenv("PMI_SIZE");
  if (rank == nullptr) rank = std::getenv("PMI_RANK");
  if (size != nullptr && rank != nullptr) {
    env.present = true;
    env.size = std::atoi(size);
    env.rank = std::atoi(rank);
  }
  return env;
}

std::string ReadAuth(const train::TrainOptions& o) {
  if (o.zk_auth_file.empty()) return o.zk_auth;
  auto bytes = ReadWholeFile(o.zk_auth_file, ExitCode::kUsage);
  std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

// Lets the rendezvous thread abort the communicator only while it exists.
struct AbortTarget {
  std::mutex mu;
  allreduce::Communicator* comm = nullptr;
};

int RunStandalone(const train::TrainOptions& o) {
  log::SetContext(0, 1, 0);
  allreduce::SelfCommunicator comm(
      std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000)));
  train::RunInfo info;
  info.job = o.job.empty() ? "local" : o.job;
  train::Train(o, comm, info);
  return 0;
}

int RunDistributed(const train::TrainOptions& o, const MpiEnv& mpi) {
  if (o.transport == "mpi")
    throw UsageError("--transport mpi is not wired into train yet", "ringtrain train",
                     "use --transport tcp (scripts/launch.sh, or mpirun with --transport tcp)");
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000));
  allreduce::TcpListener listener = allreduce::TcpListener::Bind("0.0.0.0", 0);

  rendezvous::Options ro;
  ro.zk_hosts = o.zk;
  ro.job = o.job;
  ro.auth = ReadAuth(o);
  ro.ranks = o.max_ranks > 0 ? 0 : o.ranks;
  ro.min_ranks = o.min_ranks;
  ro.max_ranks = o.max_ranks;
  ro.timeout = timeout;
  ro.config_text = train::CanonicalText(o);
  ro.self.host = o.advertise_address;
  ro.self.port = listener.port();
  ro.self.mpi_rank = mpi.rank;
  ro.self.pid = static_cast<std::int64_t>(::getpid());
  auto rv = rendezvous::Rendezvous::Join(ro);
  Ring ring = rv->WaitForRing(Deadline::After(timeout));
  log::SetContext(ring.rank, ring.world_size(), ring.generation);
  if (ring.is_leader())
    log::Info("ring of " + std::to_string(ring.world_size()) + " formed, generation " +
              std::to_string(ring.generation) + ", job " + o.job);

  allreduce::TcpOptions to;
  to.timeout = timeout;
  std::unique_ptr<allreduce::Communicator> comm = allreduce::ConnectTcpRing(listener, ring, to);
  auto target = std::make_shared<AbortTarget>();
  {
    std::lock_guard<std::mutex> lock(target->mu);
    target->comm = comm.get();
  }
  rv->SetRingLostHook([target] {
    std::lock_guard<std::mutex> lock(target->mu);
    if (target->comm != nullptr) target->comm->Abort();
  });

  train::RunInfo info;
  info.job = o.job;
  info.generation = ring.generation;
  info.local_ranks = 0;
  for (const auto& m : ring.members)
    if (m.host == ring.members[static_cast<std::size_t>(ring.rank)].host) ++info.local_ranks;
  try {
    train::Train(o, *comm, info);
  } catch (const TransportError& e) {
    if (rv->RingLost())
      throw TransportError("the ring was lost: " + rv->LostReason(), e.where(),
                           "rerun the job (with --resume once checkpoints are enabled)");
    throw;
  }
  {
    std::lock_guard<std::mutex> lock(target->mu);
    target->comm = nullptr;
  }
  comm.reset();
  rv->Leave();
  return 0;
}

int RunTrain(train::TrainOptions o, bool ranks_given) {
  MpiEnv mpi = DetectMpi();
  if (o.transport.empty()) o.transport = mpi.present ? "mpi" : "tcp";
  if (mpi.present && !ranks_given && o.max_ranks == 0) o.ranks = mpi.size;
  train::FinalizeAndValidate(o);
  if (o.resume || o.resume_from >= 0 || o.checkpoint_every > 0)
    throw UsageError("checkpoints and --resume are not implemented yet", "ringtrain train",
                     "drop --resume/--resume-from/--checkpoint-every");
  bool standalone = o.ranks == 1 && o.max_ranks <= 1 && !o.zk_given && !mpi.present;
  return standalone ? RunStandalone(o) : RunDistributed(o, mpi);
}

}  // namespace

void AddTrainCommand(CLI::App& app, RunFn* run) {
  CLI::App* sub = app.add_subcommand("train", "train a linear model (data-parallel)");
  auto options = std::make_shared<train::TrainOptions>();
  CLI::Option* zk = RegisterTrainOptions(*sub, *options);
  CLI::Option* ranks = sub->get_option("--ranks");
  sub->callback([run, options, zk, ranks] {
    options->zk_given = zk->count() > 0;
    bool ranks_given = ranks->count() > 0;
    *run = [options, ranks_given] { return RunTrain(*options, ranks_given); };
  });
}

}  // namespace ringtrain::cli
