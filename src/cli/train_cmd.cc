// cli/train_cmd.cc — `ringtrain train`: options -> communicator -> train::Train.
//
// Standalone (--ranks 1 without --zk, not under mpirun): a SelfCommunicator, no ZooKeeper.
// Distributed: bind a TCP listener -> rendezvous::Join (member = advertised host, listener
// port, MPI rank, pid) -> WaitForRing -> ConnectTcpRing -> train -> leader writes the model
// -> Leave. The rendezvous ring-lost hook aborts the communicator, so a blocked allreduce
// ends with TransportError (exit code 4) naming the reason instead of waiting out its
// deadline. This file is the only place of the train path that reads the environment.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "allreduce/address.h"
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

// Lets the rendezvous thread and the signal thread abort the communicator, and the signal
// thread leave the rendezvous, only while they exist.
struct AbortTarget {
  std::mutex mu;
  allreduce::Communicator* comm = nullptr;
  rendezvous::Rendezvous* rendezvous = nullptr;
};

// SIGINT/SIGTERM during a distributed run: leave the ring cleanly so peers learn of it in
// milliseconds (the member znode is deleted and the session closed) instead of after a
// session timeout, and break a blocked collective. The signals are blocked in this thread
// before ZooKeeper's and OpenMP's threads exist, so they inherit the mask and only the
// watcher thread below ever receives them.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::shared_ptr<AbortTarget> target) : target_(std::move(target)) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
    thread_ = std::thread([this, set] {
      const timespec tick{0, 100 * 1000 * 1000};
      while (!stop_.load()) {
        int sig = sigtimedwait(&set, nullptr, &tick);
        if (sig <= 0) continue;
        signal_.store(sig);
        log::Warn(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                  ": leaving the ring");
        std::lock_guard<std::mutex> lock(target_->mu);
        if (target_->comm != nullptr) target_->comm->Abort();
        if (target_->rendezvous != nullptr) target_->rendezvous->Leave();
        return;
      }
    });
  }
  ~SignalWatcher() {
    stop_.store(true);
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  int signal() const { return signal_.load(); }

 private:
  std::shared_ptr<AbortTarget> target_;
  sigset_t old_{};
  std::atomic<bool> stop_{false};
  std::atomic<int> signal_{0};
  std::thread thread_;
};

// The address this rank binds and advertises: --advertise-address, else --interface's,
// else the local address facing the first ZooKeeper server.
std::string ChooseAddress(const train::TrainOptions& o) {
  if (!o.advertise_address.empty() && !o.interface.empty())
    throw UsageError("--advertise-address and --interface exclude each other", "ringtrain train",
                     "give one of them");
  if (!o.advertise_address.empty()) return o.advertise_address;
  if (!o.interface.empty()) return allreduce::InterfaceAddress(o.interface);
  std::string host, port;
  allreduce::FirstZkHost(o.zk, &host, &port);
  return allreduce::LocalAddressToward(host, port);
}

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
  const std::string address = ChooseAddress(o);
  allreduce::TcpListener listener = allreduce::TcpListener::Bind(address, 0);
  auto target = std::make_shared<AbortTarget>();
  SignalWatcher signals(target);
  auto interrupted = [&signals](const Error& e) -> int {
    if (signals.signal() == 0) throw;  // rethrows the Error being handled
    log::Error(std::string("interrupted by signal; the ring was left (") + e.what() + ")");
    return 128 + signals.signal();
  };

  rendezvous::Options ro;
  ro.zk_hosts = o.zk;
  ro.job = o.job;
  ro.auth = ReadAuth(o);
  ro.ranks = o.max_ranks > 0 ? 0 : o.ranks;
  ro.min_ranks = o.min_ranks;
  ro.max_ranks = o.max_ranks;
  ro.timeout = timeout;
  ro.config_text = train::CanonicalText(o);
  ro.self.host = address;
  ro.self.port = listener.port();
  ro.self.mpi_rank = mpi.rank;
  ro.self.pid = static_cast<std::int64_t>(::getpid());
  auto rv = rendezvous::Rendezvous::Join(ro);
  {
    std::lock_guard<std::mutex> lock(target->mu);
    target->rendezvous = rv.get();
  }
  struct Detach {  // the signal thread must not touch rv or comm once they are gone
    std::shared_ptr<AbortTarget> t;
    ~Detach() {
      std::lock_guard<std::mutex> lock(t->mu);
      t->comm = nullptr;
      t->rendezvous = nullptr;
    }
  } detach{target};
  Ring ring;
  try {
    ring = rv->WaitForRing(Deadline::After(timeout));
  } catch (const Error& e) {
    return interrupted(e);
  }
  log::SetContext(ring.rank, ring.world_size(), ring.generation);
  if (ring.is_leader())
    log::Info("ring of " + std::to_string(ring.world_size()) + " formed, generation " +
              std::to_string(ring.generation) + ", job " + o.job);

  std::unique_ptr<allreduce::Communicator> comm;
  try {
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
  } catch (const Error& e) {
    return interrupted(e);
  }
  {
    std::lock_guard<std::mutex> lock(target->mu);
    target->comm = comm.get();
  }
  rv->SetRingLostHook([target] {
    std::lock_guard<std::mutex> lock(target->mu);
    if (target->comm != nullptr) target->comm->Abort();
  });
  // Declared after `comm`, so it runs before `comm` is destroyed on any exit path: the
  // rendezvous and signal threads must never Abort() a freed communicator.
  struct ClearComm {
    std::shared_ptr<AbortTarget> t;
    ~ClearComm() {
      std::lock_guard<std::mutex> lock(t->mu);
      t->comm = nullptr;
    }
  } clear_comm{target};

  train::RunInfo info;
  info.job = o.job;
  info.generation = ring.generation;
  info.local_ranks = 0;
  for (const auto& m : ring.members)
    if (m.host == ring.members[static_cast<std::size_t>(ring.rank)].host) ++info.local_ranks;
  try {
    train::Train(o, *comm, info);
  } catch (const TransportError& e) {
    if (signals.signal() != 0) return interrupted(e);
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
