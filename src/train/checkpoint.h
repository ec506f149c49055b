// train/checkpoint.h — the checkpoint file: encode/decode, atomic write, directory listing,
// choosing the checkpoint to resume from, and handing a state to every rank of a ring.
//
// One binary format (docs/checkpoints.md has it byte by byte): magic "RTCKPT\r\n", version,
// job, options hash + canonical options text, epoch, generation, world size, the model
// (models::SerializeModel bytes), the optimizer state (Optimizer::SaveState doubles: L-BFGS
// history / SGD step + momentum; the sgd shuffle is a pure function of (seed, epoch, rank),
// so there is no other RNG state), metrics JSON, and a CRC-32 of everything before it. All
// integers little-endian, doubles as their IEEE-754 bits, so a round trip is bit-exact.
//
// What this box must not know: ZooKeeper. The registry (record/latest) is the caller's (cli/);
// the caller passes the candidate paths, newest first, to LoadFirstValid.
// Errors: CheckpointError (exit code 5) naming the path and what is wrong; a shape mismatch on
// resume is a UsageError (exit code 1) naming the differing keys.
// Thread-safety: plain functions over values; BroadcastCheckpoint is a collective.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "models/linear_model.h"
#include "train/options.h"
#include "train/trainer.h"

namespace ringtrain::train {

inline constexpr std::uint32_t kCheckpointVersion = 2;  // reads 1 too (no partition map)

struct CheckpointFile {
  std::string job;
  std::string options_hash;  // OptionsHash of the run that wrote it
  std::string options_text;  // CanonicalText of that run (to name differing keys)
  std::int64_t generation = 0;
  int world_size = 1;
  TrainState state;          // model (model.epoch = epochs completed) + optimizer state
  std::string metrics_json;  // EpochMetrics::ToJson() of the epoch, "{}" if none
  std::int64_t epoch() const { return state.model.epoch; }
};

std::vector<std::byte> EncodeCheckpoint(const CheckpointFile& c);
// Verifies magic, version, lengths and CRC; throws CheckpointError naming `where`.
CheckpointFile DecodeCheckpoint(std::span<const std::byte> bytes, const std::string& where);

struct WrittenCheckpoint {
  std::string path;
  std::int64_t bytes = 0;
  std::string checksum;  // "crc32:xxxxxxxx", the CRC in the file's trailer
};
// WriteFileAtomically (temp, fsync, rename, fsync dir) of EncodeCheckpoint(c); creates `dir`
// if missing. The path returned (and recorded) is the real path: `dir` resolved, absolute.
// Throws CheckpointError.
WrittenCheckpoint WriteCheckpoint(const std::string& dir, const CheckpointFile& c);
// Reads and decodes; a missing/unreadable/corrupt file is a CheckpointError naming the path.
CheckpointFile ReadCheckpoint(const std::string& path);

// ---- Files named by someone else (a registry record, a directory listing) ----
// A path found in ZooKeeper (or in a directory) is untrusted. A checkpoint file is read,
// loaded or removed only when it is one of this job's (docs/checkpoints.md, "Which files are
// touched"): a regular file, not a symlink (opened O_NOFOLLOW), named
// <job>-epoch-NNNNNNNNNN.ckpt for the expected epoch, directly inside the job's checkpoint
// directory (its real directory; no ".." anywhere, no symlinked directory leading out); its
// header holds the magic, version 1 or kCheckpointVersion, `job` and that epoch; the CRC computed
// over its content equals the one in its trailer and the record's checksum (if any). The bytes
// checked are the bytes used: one open file descriptor, and a removal unlinks the name only
// while it still names the verified file.
struct CheckpointCandidate {
  std::string path;
  std::int64_t epoch = -1;  // the record's epoch (or the file name's, for a listing)
  std::string checksum;     // the record's "crc32:xxxxxxxx"; "" = no record (a listing)
  std::string source;       // who named the file, for messages (e.g. the record's znode)
};
// `dir` is the job's checkpoint directory; "" = the file's own directory, which must then be
// given as its real path (no symlink in it). Returns "" when `c` passes, else the reason.
std::string VerifyCheckpointFile(const std::string& dir, const std::string& job,
                                 const CheckpointCandidate& c);
// Verifies and decodes; a file that does not pass is a CheckpointError naming its path and
// the reason.
CheckpointFile ReadVerifiedCheckpoint(const std::string& dir, const std::string& job,
                                      const CheckpointCandidate& c);
struct Removal {
  bool removed = false;
  bool missing = false;  // no file at that path (on this host)
  std::string reason;    // why it was left alone ("" if removed)
  std::string line;      // one line: "removed checkpoint file P (S)" or "left ... alone (S): R"
};
// Verifies, then removes the file. Nothing is thrown for a file that does not pass: it is
// left alone and `line` names the path, the source and the reason.
Removal RemoveCheckpointFile(const std::string& dir, const std::string& job,
                             const CheckpointCandidate& c);

// <dir>/<job>-epoch-NNNNNNNNNN.ckpt
std::string CheckpointPath(const std::string& dir, const std::string& job, std::int64_t epoch);
// Checkpoint files of `job` in `dir` as (epoch, path), newest epoch first; [] if no dir.
std::vector<std::pair<std::int64_t, std::string>> ListCheckpointFiles(const std::string& dir,
                                                                      const std::string& job);
// Removes all but the newest `keep` files of `job` in `dir` (standalone pruning), each only
// if it passes RemoveCheckpointFile's checks; every removal and every file left alone is
// logged (INFO / WARN) with its path.
void PruneCheckpointFiles(const std::string& dir, const std::string& job, int keep);

// Refuses a checkpoint written with different shape options: UsageError naming every
// differing key ("C (2 here, 1 in the checkpoint <path>)").
void CheckResumable(const CheckpointFile& c, const TrainOptions& options, const std::string& path);

// Tries `candidates` in order (newest first): the first one that passes
// ReadVerifiedCheckpoint (a checkpoint of `job` in `dir`) wins; each failure is logged as a
// WARN naming the path, its source and the reason. None valid -> CheckpointError (exit 5)
// listing every path tried. A shape mismatch is not skipped: it is a UsageError at once.
struct LoadedCheckpoint {
  CheckpointFile file;
  std::string path;
};
LoadedCheckpoint LoadFirstValid(const std::string& dir, const std::string& job,
                                const std::vector<CheckpointCandidate>& candidates,
                                const TrainOptions& options);

// Collective: every rank passes the state it holds (or nothing); the rank holding the newest
// epoch (lowest rank on ties) broadcasts it, so every rank returns the same bytes. Returns
// nothing if no rank holds a state. Used on resume (only the leader read the file) and after
// an elastic re-formation (survivors hold the last checkpoint in memory, newcomers nothing).
std::optional<CheckpointFile> ShareNewestCheckpoint(allreduce::Communicator& comm,
                                                    const std::optional<CheckpointFile>& mine);

}  // namespace ringtrain::train
