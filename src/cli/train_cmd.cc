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
#include "allreduce/mpi_communicator.h"
#include "allreduce/mpi_session.h"
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

// main() owns the MpiSession; here we only need mpirun's rank and size, which its launcher
// exports (Open MPI, MPICH/PMI, PMIx).
MpiEnv DetectMpi() {
  MpiEnv env;
  if (!allreduce::MpiSession::LaunchedByMpirun(environ)) return env;
  auto first = [](std::initializer_list<const char*> names) -> const char* {
    for (const char* n : names)
      if (const char* v = std::getenv(n)) return v;
    return nullptr;
  };
  const char* size = first({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"});
  const char* rank = first({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"});
  env.present = true;
  env.size = size != nullptr ? std::atoi(size) : 0;
  env.rank = rank != nullptr ? std::atoi(rank) : -1;
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
  if (o.transport == "mpi" && !mpi.present)
    throw UsageError("--transport mpi needs the process to be started by mpirun", "ringtrain train",
                     "run under mpirun, or use --transport tcp");
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

  std::unique_ptr<allreduce::Communicator> comm;
  if (o.transport == "mpi") {
    allreduce::MpiOptions mo;
    mo.timeout = timeout;
    comm = allreduce::MakeMpiRingCommunicator(ring, mo);
    if (!comm) comm = std::make_unique<allreduce::SelfCommunicator>(timeout);
  } else {
    allreduce::TcpOptions to;
    to.timeout = timeout;
    comm = allreduce::ConnectTcpRing(listener, ring, to);
  }
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
  auto cli = std::make_shared<TrainCli>();
  RegisterTrainOptions(*sub, *cli);
  sub->callback([run, cli, sub] {
    *run = [cli, sub] {
      FinishTrainOptions(*sub, *cli);
      return RunTrain(cli->options, cli->ranks_given);
    };
  });
}

}  // namespace ringtrain::cli
