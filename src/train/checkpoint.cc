// train/checkpoint.cc — checkpoint file format, atomic write, listing, resume choice, sharing.
#include "train/checkpoint.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/checksum.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/log.h"

namespace ringtrain::train {
namespace {

constexpr char kMagic[8] = {'R', 'T', 'C', 'K', 'P', 'T', '\r', '\n'};
constexpr std::uint64_t kMaxField = std::uint64_t{1} << 40;  // sanity bound on lengths

class Writer {
 public:
  template <class T>
  void Put(T v) {
    static_assert(std::is_integral_v<T>);
    auto u = static_cast<std::make_unsigned_t<T>>(v);
    for (std::size_t i = 0; i < sizeof(T); ++i)
      out_.push_back(static_cast<std::byte>((u >> (8 * i)) & 0xFFu));
  }
  void PutDouble(double d) { Put<std::uint64_t>(std::bit_cast<std::uint64_t>(d)); }
  void PutBytes(std::span<const std::byte> b) {
    Put<std::uint64_t>(b.size());
    PutRaw(b.data(), b.size());
  }
  void PutString(const std::string& s) {
    PutBytes(std::as_bytes(std::span<const char>(s.data(), s.size())));
  }
  // resize + memcpy rather than insert: GCC 12 at -O2 under TSan reports a false
  // -Wstringop-overflow for vector<std::byte>::insert.
  void PutRaw(const void* p, std::size_t n) {
    if (n == 0) return;
    const std::size_t at = out_.size();
    out_.resize(at + n);
    std::memcpy(out_.data() + at, p, n);
  }
  void Reserve(std::size_t n) { out_.reserve(n); }
  std::vector<std::byte>& bytes() { return out_; }

 private:
  std::vector<std::byte> out_;
};

class Reader {
 public:
  Reader(std::span<const std::byte> in, const std::string& where) : in_(in), where_(where) {}
  template <class T>
  T Get(const char* field) {
    Need(sizeof(T), field);
    std::make_unsigned_t<T> u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      u |= static_cast<std::make_unsigned_t<T>>(std::to_integer<unsigned>(in_[pos_ + i]))
           << (8 * i);
    pos_ += sizeof(T);
    return static_cast<T>(u);
  }
  double GetDouble(const char* field) { return std::bit_cast<double>(Get<std::uint64_t>(field)); }
  std::span<const std::byte> GetBytes(const char* field) {
    auto n = Get<std::uint64_t>(field);
    if (n > kMaxField) Fail(std::string("implausible length of ") + field);
    Need(static_cast<std::size_t>(n), field);
    auto s = in_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::string GetString(const char* field) {
    auto b = GetBytes(field);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  std::size_t pos() const { return pos_; }
  [[noreturn]] void Fail(const std::string& what) const {
    throw CheckpointError("checkpoint file is invalid: " + what, where_,
                          "use an older checkpoint (--resume-from EPOCH) or start afresh");
  }

 private:
  void Need(std::size_t n, const char* field) const {
    if (in_.size() - pos_ < n) Fail(std::string("truncated at ") + field);
  }
  std::span<const std::byte> in_;
  std::string where_;
  std::size_t pos_ = 0;
};

std::string EpochName(std::int64_t epoch) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%010lld", static_cast<long long>(epoch));
  return buf;
}

}  // namespace

std::vector<std::byte> EncodeCheckpoint(const CheckpointFile& c) {
  Writer w;
  // One allocation for the whole file (the model's own header/spec/CRC fit in the slack).
  w.Reserve(4096 + c.job.size() + c.options_hash.size() + c.options_text.size() +
            c.metrics_json.size() + 256 * c.state.partitions.parts.size() +
            8 * c.state.model.weights.size() + 8 * c.state.model.spec.classes.size() +
            8 * c.state.optimizer_state.size());
  w.PutRaw(kMagic, sizeof kMagic);
  w.Put<std::uint32_t>(kCheckpointVersion);
  w.PutString(c.job);
  w.PutString(c.options_hash);
  w.PutString(c.options_text);
  w.Put<std::int64_t>(c.state.model.epoch);
  w.Put<std::int64_t>(c.generation);
  w.Put<std::int32_t>(c.world_size);
  w.PutBytes(models::SerializeModel(c.state.model));
  w.Put<std::uint64_t>(c.state.optimizer_state.size());
  for (double d : c.state.optimizer_state) w.PutDouble(d);
  w.PutString(c.metrics_json.empty() ? std::string("{}") : c.metrics_json);
  // Version 2: the partition map the next epochs run with ("" when none).
  w.PutString(c.state.partitions.parts.empty() ? std::string() : ToJson(c.state.partitions));
  std::uint32_t crc = Crc32(std::span<const std::byte>(w.bytes()));
  w.Put<std::uint32_t>(crc);
  return std::move(w.bytes());
}

CheckpointFile DecodeCheckpoint(std::span<const std::byte> bytes, const std::string& where) {
  Reader r(bytes, where);
  if (bytes.size() < sizeof kMagic + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    r.Fail("not a ringtrain checkpoint (bad magic)");
  const auto body = bytes.first(bytes.size() - 4);
  Reader tail(bytes.subspan(bytes.size() - 4), where);
  const auto stored = tail.Get<std::uint32_t>("crc32");
  const auto actual = Crc32(body);
  if (stored != actual)
    r.Fail("CRC-32 mismatch (stored " + Hex32(stored) + ", computed " + Hex32(actual) + ")");
  Reader in(body.subspan(sizeof kMagic), where);
  const auto version = in.Get<std::uint32_t>("version");
  if (version != kCheckpointVersion && version != 1)
    in.Fail("version " + std::to_string(version) + " (this build reads 1-" +
            std::to_string(kCheckpointVersion) + ")");
  CheckpointFile c;
  c.job = in.GetString("job");
  c.options_hash = in.GetString("options hash");
  c.options_text = in.GetString("options text");
  const auto epoch = in.Get<std::int64_t>("epoch");
  c.generation = in.Get<std::int64_t>("generation");
  c.world_size = in.Get<std::int32_t>("world size");
  auto model = in.GetBytes("model");
  try {
    c.state.model = models::DeserializeModel(model, where);
  } catch (const Error& e) {
    in.Fail("model: " + e.what_happened());
  }
  if (c.state.model.epoch != epoch) in.Fail("the model's epoch differs from the header's");
  const auto n = in.Get<std::uint64_t>("optimizer state length");
  if (n > kMaxField / 8) in.Fail("implausible optimizer state length");
  c.state.optimizer_state.resize(static_cast<std::size_t>(n));
  for (auto& d : c.state.optimizer_state) d = in.GetDouble("optimizer state");
  c.metrics_json = in.GetString("metrics");
  if (version >= 2) {
    const std::string map = in.GetString("partition map");
    if (!map.empty()) {
      try {
        c.state.partitions = PartitionMapFromJson(map, where);
      } catch (const Error& e) {
        in.Fail("partition map: " + e.what_happened());
      }
    }
  }
  if (in.pos() != body.size() - sizeof kMagic) in.Fail("trailing bytes before the CRC");
  c.state.options_hash = c.options_hash;
  return c;
}

std::string CheckpointPath(const std::string& dir, const std::string& job, std::int64_t epoch) {
  return (std::filesystem::path(dir) / (job + "-epoch-" + EpochName(epoch) + ".ckpt")).string();
}

WrittenCheckpoint WriteCheckpoint(const std::string& dir, const CheckpointFile& c) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw CheckpointError("cannot create the checkpoint directory: " + ec.message(), dir,
                          "check --checkpoint-dir");
  // The real directory: the recorded path is checked against it before it is ever read or
  // removed (checkpoint_verify.cc), and a tool in another working directory finds it.
  const std::string real = std::filesystem::canonical(dir, ec).string();
  if (ec)
    throw CheckpointError("cannot resolve the checkpoint directory: " + ec.message(), dir,
                          "check --checkpoint-dir");
  auto bytes = EncodeCheckpoint(c);
  WrittenCheckpoint w;
  w.path = CheckpointPath(real, c.job, c.epoch());
  WriteFileAtomically(w.path, bytes, ExitCode::kCheckpoint);
  w.bytes = static_cast<std::int64_t>(bytes.size());
  // The CRC stored in the trailer (a CRC over the whole file, trailer included, would be the
  // same constant residue for every file).
  w.checksum = "crc32:" + Hex32(Crc32(std::span<const std::byte>(bytes).first(bytes.size() - 4)));
  return w;
}

CheckpointFile ReadCheckpoint(const std::string& path) {
  auto bytes = ReadWholeFile(path, ExitCode::kCheckpoint);
  return DecodeCheckpoint(bytes, path);
}

std::vector<std::pair<std::int64_t, std::string>> ListCheckpointFiles(const std::string& dir,
                                                                      const std::string& job) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::int64_t, std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  const std::string prefix = job + "-epoch-", suffix = ".ckpt";
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != prefix.size() + 10 + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.substr(name.size() - suffix.size()) != suffix)
      continue;
    const std::string digits = name.substr(prefix.size(), 10);
    if (!std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      continue;
    out.emplace_back(std::stoll(digits), e.path().string());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

void PruneCheckpointFiles(const std::string& dir, const std::string& job, int keep) {
  auto files = ListCheckpointFiles(dir, job);
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 0)); i < files.size(); ++i) {
    auto r = RemoveCheckpointFile(dir, job, {files[i].second, files[i].first, "", "--keep"});
    (r.removed ? log::Info : log::Warn)(r.line);
  }
}

void CheckResumable(const CheckpointFile& c, const TrainOptions& options, const std::string& path) {
  if (c.options_hash == OptionsHash(options)) return;
  std::string keys = DifferingKeys(CanonicalText(options), c.options_text, "the checkpoint");
  throw UsageError("options that fix the model or its trajectory differ from the checkpoint's: " +
                       (keys.empty() ? std::string("options hash ") + c.options_hash : keys),
                   path,
                   "resume with the checkpoint's values, or start a new job without --resume");
}

LoadedCheckpoint LoadFirstValid(const std::string& dir, const std::string& job,
                                const std::vector<CheckpointCandidate>& candidates,
                                const TrainOptions& options) {
  std::string tried;
  for (const auto& cand : candidates) {
    CheckpointFile c;
    try {
      c = ReadVerifiedCheckpoint(dir, job, cand);
    } catch (const Error& e) {
      log::Warn("skipping checkpoint " + cand.path + ": " + e.what_happened() +
                "; trying the next older one");
      tried += (tried.empty() ? "" : ", ") + cand.path;
      continue;
    }
    CheckResumable(c, options, cand.path);
    return {std::move(c), cand.path};
  }
  throw CheckpointError(
      "no valid checkpoint to resume from (tried: " + (tried.empty() ? "none" : tried) + ")",
      dir.empty() ? options.checkpoint_dir : dir,
      "check the files, resume from another epoch with --resume-from, or start without --resume");
}

std::optional<CheckpointFile> ShareNewestCheckpoint(allreduce::Communicator& comm,
                                                    const std::optional<CheckpointFile>& mine) {
  const int world = comm.world_size();
  std::vector<double> epochs(static_cast<std::size_t>(world), 0.0);
  // epoch + 1 so that "holds nothing" (0) is below "holds epoch 0".
  epochs[static_cast<std::size_t>(comm.rank())] =
      mine ? static_cast<double>(mine->epoch()) + 1.0 : 0.0;
  comm.AllreduceSum(std::span<double>(epochs));
  int root = 0;
  for (int r = 1; r < world; ++r)
    if (epochs[static_cast<std::size_t>(r)] > epochs[static_cast<std::size_t>(root)]) root = r;
  if (epochs[static_cast<std::size_t>(root)] == 0.0) return std::nullopt;
  std::vector<std::byte> bytes;
  if (comm.rank() == root) bytes = EncodeCheckpoint(*mine);
  std::uint64_t size = bytes.size();
  comm.Broadcast(std::as_writable_bytes(std::span<std::uint64_t>(&size, 1)), root);
  bytes.resize(static_cast<std::size_t>(size));
  comm.Broadcast(std::span<std::byte>(bytes), root);
  return DecodeCheckpoint(bytes, "checkpoint broadcast by rank " + std::to_string(root));
}

}  // namespace ringtrain::train
