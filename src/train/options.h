// train/options.h — the one options struct of `ringtrain train`, and its one field list.
//
// VisitTrainFields(options, visitor) is the field list. Everything that needs to enumerate
// the options uses it, so a new option is added in exactly one place:
//   - cli/ registers each field as a CLI11 option (and so as a TOML key of --config);
//   - CanonicalText() prints the kShape fields as "key = value" lines; its hash goes into
//     the ZooKeeper job record and into checkpoints;
//   - DifferingKeys() compares two canonical texts and names the keys that differ.
// Scope::kShape keys change the model shape or the objective/trajectory: they must match
// across the ranks of a job and on resume. Scope::kAgreed keys change the collective sequence
// or the result of one run (world size, epochs, evaluation and checkpoint schedule, test data,
// transport, resume): every rank of a run must give the same value (checked at rendezvous,
// AgreedText), but a resumed run may change them. Scope::kRun keys are per rank and may
// differ (job address, ZooKeeper address and credentials, advertised address, checkpoint dir,
// output paths, threads, timeout).
// VisitReaderFields(fields, visitor) is the part of the field list that says how a data file
// is read (besides its path): train registers it through VisitTrainFields, eval and predict
// register the same fields on their own option structs (cli/options.h), so a CSV or IDX file
// is described the same way to every command and a new reader option reaches all of them.
// No getenv, no I/O here: plain data and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "models/dataset.h"
#include "models/linear_model.h"
#include "models/loss_info.h"

namespace ringtrain::train {

enum class Scope { kShape, kAgreed, kRun };
enum class OptimizerKind { kLbfgs, kTron, kSgd };

// The choices of the text fields, parsed once by FinalizeAndValidate: code behind the edge
// reads these, never the strings (the strings stay the fields: they are what is hashed,
// compared across ranks and shown).
struct Choices {
  models::ModelKind model = models::ModelKind::kLr;
  models::Loss loss = models::Loss::kLogistic;
  models::Multiclass multiclass = models::Multiclass::kOvr;
  OptimizerKind optimizer = OptimizerKind::kLbfgs;
  models::Penalty penalty = models::Penalty::kL2;
  std::string early_stop_metric;  // --early-stop-metric, or the loss's default metric
  // --class-weight: "balanced", or (label, weight) pairs.
  bool balanced = false;
  std::vector<std::pair<double, double>> class_weights;
};

struct TrainOptions {
  // Job and rendezvous (run scope).
  std::string job;
  std::string zk = "127.0.0.1:2181";
  bool zk_given = false;  // set by cli/ when --zk (or its TOML key) was given
  std::string zk_auth;
  std::string zk_auth_file;
  int ranks = 1;
  int min_ranks = 0;  // 0 = not elastic
  int max_ranks = 0;
  std::string transport;     // "" = auto (mpi under mpirun, else tcp)
  std::string shm = "auto";  // tcp transport: auto (same-host rings use shared memory) | off
  // The ring's segment size: "auto" (measured per buffer size class when the ring forms,
  // docs/allreduce.md "Start-up tuning") or a byte count for every size (no measuring).
  std::string allreduce_segment = "auto";
  std::string advertise_address;  // "" = the address facing the first ZooKeeper server
  std::string interface;          // advertise this interface's IPv4 address
  // Data (shape scope: the data defines the objective).
  std::string data;
  std::string labels;
  std::string format;  // "" = guess from the file name
  int label_column = 0;
  std::string weight_column;  // CSV: 0-based instance weights column ("" = none, -1 = last)
  std::string test_data;      // run scope: evaluation only
  std::string test_labels;
  std::string validation_data;  // evaluated every epoch; with early_stop > 0 it decides the stop
  std::string validation_labels;
  int early_stop = 0;             // stop when the metric has not improved for N epochs (0 = off)
  std::string early_stop_metric;  // "" = the loss's default metric (accuracy, mse)
  std::string init_model;         // start from this model's weights (same shape)
  // Model and objective (shape scope).
  std::string model = "lr";  // models::kModelTable names
  std::string loss;          // models::kLossTable names; "" = the model's default loss
  std::string multiclass = "ovr";
  double c = 1.0;
  std::string penalty = "l2";  // l2 | l1 | elastic (models::Penalty)
  double l1_ratio = 0.5;       // elastic: r |w|_1 + (1 - r) 0.5 |w|^2
  double epsilon = 0.1;        // svr: insensitive zone of the epsilon losses (liblinear -p)
  std::string class_weight;    // "" | "balanced" | "LABEL:W[,LABEL:W...]" (liblinear -wi)
  std::string weights;         // instance weights file, one per row (liblinear -W)
  bool bias = true;  // like scikit-learn's intercept; --no-bias / --bias=false / bias = false
  // Optimizer (shape scope: they fix the trajectory, and so resume exactness).
  std::string optimizer;  // "" = by the loss: tron with a Hessian, lbfgs if smooth, else sgd
  int batch_size = 256;   // sgd: local batch; global batch = local x ranks
  double lr = 0.1;
  double lr_decay = 0.0;  // sgd: lr_t = lr / (1 + lr_decay * t), t = global step
  double momentum = 0.9;
  std::uint64_t seed = 1;
  double tol = 0.01;  // lbfgs/tron: stop when |g| <= tol * |g0| (liblinear's -e)
  int lbfgs_memory = 10;
  // Load balancing (shape scope: every rank must decide alike, and the maps fix the sums).
  std::string balance = "auto";     // auto | off
  double balance_threshold = 0.10;  // rebalance when slowest/fastest - 1 exceeds this twice
  // Run scope.
  int epochs = 100;
  int eval_every = 1;  // evaluate train/test accuracy every N epochs (and at the end)
  std::string checkpoint_dir;
  int checkpoint_every = 0;
  int keep = 3;
  bool resume = false;
  std::int64_t resume_from = -1;
  std::string output;
  std::string metrics;
  int threads = 0;  // 0 = cores / local ranks
  double timeout = 60.0;
  // Bytes the model and optimizer state may take (features x outputs x vectors x 8); 0 = half
  // of this host's physical memory. Checked before they are allocated (the smallest limit of
  // the ranks applies).
  std::int64_t max_model_bytes = 0;
  // Not a field: filled by FinalizeAndValidate from model, loss, multiclass, optimizer.
  Choices choices;
};

// visitor(name, member_ref, help, scope) for the fields that describe how a data file is read
// (every member `Fields` needs: labels, format, label_column, weight_column). Canonical order.
template <class Fields, class Visitor>
void VisitReaderFields(Fields& o, Visitor&& v) {
  v("labels", o.labels, "IDX labels file of --data", Scope::kShape);
  v("format", o.format, "libsvm|idx|csv (default: from the file name)", Scope::kShape);
  v("label-column", o.label_column, "CSV: 0-based label column (-1 = last)", Scope::kShape);
  v("weight-column", o.weight_column,
    "CSV: 0-based column of instance weights >= 0, C_i = C * weight (-1 = last; default: "
    "none); eval and predict skip it",
    Scope::kShape);
}

// The reader options of data file `path` (IDX: its labels file `labels`) under the reader
// fields of `o`: the one place train, eval and predict turn their options into a reader call.
// An IDX file without a labels file is a UsageError telling to give `labels_option`.
models::ReadOptions ReaderOptions(const std::string& path, const std::string& labels,
                                  const std::string& format, int label_column,
                                  const std::string& weight_column, const char* labels_option);
template <class Fields>
models::ReadOptions ReaderOptions(const Fields& o, const std::string& path,
                                  const std::string& labels, const char* labels_option) {
  return ReaderOptions(path, labels, o.format, o.label_column, o.weight_column, labels_option);
}

// visitor(name, member_ref, help, scope) for every field in canonical order. `name` is the
// long option / TOML key without dashes. zk_given is not a field (cli/ sets it). A bool field
// whose default is true is also registered as --no-<name> (and --<name>=false works).
template <class Options, class Visitor>
void VisitTrainFields(Options& o, Visitor&& v) {
  v("job", o.job, "job name (ZooKeeper node /ringtrain/<job>)", Scope::kRun);
  v("zk", o.zk, "ZooKeeper connect string HOSTS[/chroot]", Scope::kRun);
  v("zk-auth", o.zk_auth, "digest auth USER:PASS", Scope::kRun);
  v("zk-auth-file", o.zk_auth_file, "file holding USER:PASS", Scope::kRun);
  v("ranks", o.ranks, "world size (1 = standalone, no ZooKeeper)", Scope::kAgreed);
  v("min-ranks", o.min_ranks, "elastic: fewest ranks to train with", Scope::kAgreed);
  v("max-ranks", o.max_ranks, "elastic: most ranks to admit", Scope::kAgreed);
  v("transport", o.transport, "tcp|mpi (default: mpi under mpirun, else tcp)", Scope::kAgreed);
  v("shm", o.shm,
    "auto|off: with --transport tcp, a ring whose ranks all share one host moves its data "
    "through shared memory (auto) or stays on loopback TCP (off)",
    Scope::kAgreed);
  v("allreduce-segment", o.allreduce_segment,
    "auto|BYTES: the ring allreduce's segment size, measured per buffer size when the ring "
    "forms (auto; under 0.5 s) or BYTES for every size (no measuring: reproducible timing)",
    Scope::kAgreed);
  v("advertise-address", o.advertise_address,
    "address peers use to reach this rank; it is also the only address bound "
    "(default: the local address facing the first ZooKeeper server)",
    Scope::kRun);
  v("interface", o.interface, "advertise (and bind) this network interface's IPv4 address",
    Scope::kRun);
  v("data", o.data, "training data file (IDX: the images file)", Scope::kShape);
  VisitReaderFields(o, v);
  v("test-data", o.test_data, "test data evaluated every epoch", Scope::kAgreed);
  v("test-labels", o.test_labels, "IDX labels file of --test-data", Scope::kAgreed);
  v("validation-data", o.validation_data,
    "held-out data evaluated every epoch (metrics validation_<name>); with --early-stop it "
    "decides when to stop",
    Scope::kAgreed);
  v("validation-labels", o.validation_labels, "IDX labels file of --validation-data",
    Scope::kAgreed);
  v("early-stop", o.early_stop,
    "with --validation-data: stop when --early-stop-metric has not improved for N epochs and "
    "keep the best epoch's model (0 = off)",
    Scope::kAgreed);
  v("early-stop-metric", o.early_stop_metric,
    "accuracy|log_loss|macro_f1|auc|pr_auc (classifiers), mse|mae|r2 (regression); default: "
    "accuracy, or mse for regression",
    Scope::kAgreed);
  v("init-model", o.init_model,
    "start from this model file's weights (warm start, e.g. along a C path); it must have this "
    "run's shape: features, bias, classes",
    Scope::kAgreed);
  v("model", o.model, "lr|svm (classifiers), svr|linreg (regression; docs/training.md)",
    Scope::kShape);
  v("loss", o.loss,
    "logistic (lr); squared_hinge, hinge (svm); squared_epsilon_insensitive, "
    "epsilon_insensitive (svr); squared (linreg); default: the first of its --model",
    Scope::kShape);
  v("multiclass", o.multiclass, "ovr|multinomial", Scope::kShape);
  v("C", o.c, "cost of the data term: R(w) + C * sum loss", Scope::kShape);
  v("penalty", o.penalty,
    "regulariser R(w): l2 = 0.5|w|^2 (liblinear -s 0/2/11), l1 = |w|_1 (sparse models, "
    "liblinear -s 6/5), elastic = r|w|_1 + (1-r) 0.5|w|^2; l1 and elastic train by OWL-QN "
    "(--optimizer lbfgs) and need a smooth loss",
    Scope::kShape);
  v("l1-ratio", o.l1_ratio, "elastic: the share r of |w|_1 in the penalty, in (0, 1)",
    Scope::kShape);
  v("epsilon", o.epsilon, "svr: no loss for |y - w.x| <= epsilon (liblinear -p)", Scope::kShape);
  v("class-weight", o.class_weight,
    "classifiers: LABEL:W[,LABEL:W...] multiplies C for the rows of LABEL (liblinear -wLABEL W), "
    "or balanced (W = rows / (classes * rows of the class))",
    Scope::kShape);
  v("weights", o.weights,
    "instance weights file: one number >= 0 per data row, in row order; C_i = C * weight "
    "(liblinear -W)",
    Scope::kShape);
  v("bias", o.bias,
    "add a bias feature of value 1 (regularised, like liblinear -B 1); on by default, "
    "--no-bias (or --bias=false) leaves it out",
    Scope::kShape);
  v("optimizer", o.optimizer,
    "lbfgs|tron|sgd (default: the one that converges for the loss: tron for logistic and "
    "squared hinge, sgd for the hinge)",
    Scope::kShape);
  v("batch-size", o.batch_size, "sgd: rows per rank per step", Scope::kShape);
  v("lr", o.lr, "sgd: learning rate", Scope::kShape);
  v("lr-decay", o.lr_decay, "sgd: lr / (1 + lr-decay * step)", Scope::kShape);
  v("momentum", o.momentum, "sgd: heavy-ball momentum in [0,1)", Scope::kShape);
  v("seed", o.seed, "random seed (sgd shuffles by (seed, epoch, rank))", Scope::kShape);
  v("tol", o.tol,
    "lbfgs/tron: stop when |grad| <= tol * min(#pos,#neg)/N * |grad at 0| (like liblinear -e)",
    Scope::kShape);
  v("lbfgs-memory", o.lbfgs_memory, "lbfgs: history pairs kept", Scope::kShape);
  v("balance", o.balance,
    "auto|off: give each rank rows in proportion to its measured speed (docs/balancing.md)",
    Scope::kShape);
  v("balance-threshold", o.balance_threshold,
    "rebalance when the slowest rank's compute time per epoch exceeds the fastest's by more "
    "than this fraction for two consecutive epochs",
    Scope::kShape);
  v("epochs", o.epochs, "epochs (sgd passes / lbfgs iterations) at most", Scope::kAgreed);
  v("eval-every", o.eval_every, "evaluate accuracy every N epochs", Scope::kAgreed);
  v("checkpoint-dir", o.checkpoint_dir, "directory for checkpoint files", Scope::kRun);
  v("checkpoint-every", o.checkpoint_every, "checkpoint every K epochs (0 = never)",
    Scope::kAgreed);
  v("keep", o.keep, "checkpoints kept", Scope::kAgreed);
  v("resume", o.resume, "resume from the newest recorded checkpoint", Scope::kAgreed);
  v("resume-from", o.resume_from, "resume from the checkpoint of this epoch", Scope::kAgreed);
  v("output", o.output, "model file written by the leader at the end", Scope::kRun);
  v("metrics", o.metrics, "JSON lines file, one line per epoch (leader)", Scope::kRun);
  v("threads", o.threads, "OpenMP threads per rank (0 = cores / local ranks)", Scope::kRun);
  v("timeout", o.timeout, "seconds any blocking step may take", Scope::kRun);
  v("max-model-bytes", o.max_model_bytes,
    "refuse data whose model and optimizer state would take more bytes (0 = half the "
    "physical memory)",
    Scope::kRun);
}

// Fills defaults that depend on other fields (loss from model, optimizer from loss), checks
// every rule and parses the choices into options.choices; throws UsageError naming the option
// (e.g. "--C must be > 0, got -1"). Idempotent.
void FinalizeAndValidate(TrainOptions& options);

// --allreduce-segment as bytes: 0 for "auto" (measured when the ring forms); throws the
// UsageError for anything but auto or a whole number from 8 to 1 GiB.
std::size_t AllreduceSegmentBytes(const TrainOptions& options);

// "key = value" lines of the kShape fields, in field-list order, values canonical (doubles
// printed to round-trip exactly, bools true/false).
std::string CanonicalText(const TrainOptions& options);
// "key = value" lines of the kShape and kAgreed fields: what every rank of one run must give
// alike (exchanged at rendezvous; a difference ends every rank with exit 1 naming the keys).
std::string AgreedText(const TrainOptions& options);
// Fnv1a64 of CanonicalText, 16 hex digits.
std::string OptionsHash(const TrainOptions& options);
// "C (1 here, 2 in the job); loss (...)" for every key whose value differs between two
// canonical texts; "" when they agree.
std::string DifferingKeys(const std::string& ours, const std::string& theirs,
                          const std::string& their_name = "the job");

}  // namespace ringtrain::train
