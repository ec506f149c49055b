// fuzz/inputs.cc — see inputs.h. Readers take paths, so every input is written to a fresh
// memfd (a regular in-memory file) and read back through /proc/self/fd/N.
#include "fuzz/inputs.h"

#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "allreduce/handshake.h"
#include "common/checksum.h"
#include "common/error.h"
#include "common/ring.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "rendezvous/records.h"
#include "rendezvous/rendezvous.h"

namespace ringtrain::fuzz {
namespace {

// An anonymous in-memory file holding `bytes`, closed on destruction.
class MemFile {
 public:
  explicit MemFile(Bytes bytes) {
    fd_ = ::memfd_create("ringtrain-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("memfd_create failed");
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t w = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (w <= 0) {
        ::close(fd_);
        throw std::runtime_error("write to memfd failed");
      }
      done += static_cast<std::size_t>(w);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// gzip container of `bytes` (so the IDX reader's gzip path and ISIZE check are reached).
std::vector<std::uint8_t> Gzip(Bytes bytes) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::vector<std::uint8_t> out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 32);
  z.next_in = const_cast<Bytef*>(bytes.data());
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  return out;
}

// b0 -> (shard, num_shards) with num_shards in 1..4.
void SetShard(std::uint8_t b, models::ReadOptions& options) {
  options.num_shards = 1 + (b & 3);
  options.shard = (b >> 2) % options.num_shards;
}

// Reads every shard's worth of checks the readers promise: CSR or dense shape consistent.
void CheckDataset(const models::Dataset& d) {
  const auto rows = static_cast<std::size_t>(d.rows());
  if (d.is_dense()) {
    if (d.dense.size() != rows * static_cast<std::size_t>(d.dense_cols)) {
      throw PropertyViolation("dense storage does not hold rows x dense_cols values");
    }
    return;
  }
  if (d.row_ptr.size() != rows + 1 || d.row_ptr.front() != 0 ||
      d.row_ptr.back() != static_cast<std::int64_t>(d.col.size()) || d.col.size() != d.val.size()) {
    throw PropertyViolation("CSR arrays are inconsistent");
  }
  for (std::size_t r = 0; r < rows; ++r) {
    for (auto k = d.row_ptr[r]; k < d.row_ptr[r + 1]; ++k) {
      const auto c = d.col[static_cast<std::size_t>(k)];
      if (c < 0 || c >= d.num_features) throw PropertyViolation("column out of range");
      if (k > d.row_ptr[r] && d.col[static_cast<std::size_t>(k - 1)] >= c) {
        throw PropertyViolation("columns not strictly ascending");
      }
    }
  }
}

std::string Text(Bytes b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

}  // namespace

void RunLibsvm(Bytes input) {
  if (input.empty()) return;
  models::ReadOptions options;
  options.format = models::Format::kLibsvm;
  SetShard(input[0], options);
  MemFile file(input.subspan(1));
  options.path = file.path();
  CheckDataset(models::ReadShard(options));
}

void RunCsv(Bytes input) {
  if (input.size() < 2) return;
  models::ReadOptions options;
  options.format = models::Format::kCsv;
  SetShard(input[0], options);
  options.label_column = static_cast<int>(input[1] % 5) - 1;
  MemFile file(input.subspan(2));
  options.path = file.path();
  CheckDataset(models::ReadShard(options));
}

void RunIdx(Bytes input) {
  if (input.size() < 4) return;
  models::ReadOptions options;
  options.format = models::Format::kIdx;
  SetShard(input[0], options);
  const bool gzip_images = (input[1] & 1) != 0, gzip_labels = (input[1] & 2) != 0;
  std::size_t labels_len = input[2] | (std::size_t{input[3]} << 8);
  Bytes rest = input.subspan(4);
  if (labels_len > rest.size()) labels_len = rest.size();
  Bytes labels = rest.first(labels_len), images = rest.subspan(labels_len);
  std::vector<std::uint8_t> gz_labels, gz_images;
  if (gzip_labels) labels = gz_labels = Gzip(labels);
  if (gzip_images) images = gz_images = Gzip(images);
  MemFile labels_file(labels), images_file(images);
  options.path = images_file.path();
  options.labels_path = labels_file.path();
  CheckDataset(models::ReadShard(options));
}

void RunModel(Bytes input) {
  if (input.empty()) return;
  std::vector<std::byte> bytes(input.size() - 1);
  if (!bytes.empty()) std::memcpy(bytes.data(), input.data() + 1, bytes.size());
  if ((input[0] & 1) != 0 && bytes.size() >= 12) {
    const std::uint32_t crc = Crc32(std::span<const std::byte>(bytes).first(bytes.size() - 4));
    std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  }
  const models::LinearModel m = models::DeserializeModel(bytes, "fuzz-input");
  // A model that loads must serialise back to exactly the bytes it came from (a version-1
  // file is written as version 2: that form must round-trip and keep the weights).
  const std::vector<std::byte> out = models::SerializeModel(m);
  const bool v1 = bytes.size() > 8 && bytes[8] == std::byte{1};
  // Weights compare by their bits: a file may hold NaNs, and NaN != NaN.
  const auto same_bits = [](const std::vector<double>& a, const std::vector<double>& b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
  };
  if (v1 ? models::SerializeModel(models::DeserializeModel(out, "fuzz-output")) != out ||
               !same_bits(models::DeserializeModel(out, "fuzz-output").weights, m.weights)
         : out != bytes) {
    throw PropertyViolation("model file does not round-trip");
  }
}

void RunZnode(Bytes input) {
  if (input.empty()) return;
  const std::string text = Text(input.subspan(1));
  const std::string where = "/ringtrain/fuzz";
  switch (input[0] % 8) {
    case 0: {
      const Member m = MemberFromJson(text, where);
      if (MemberFromJson(MemberToJson(m), where) != m) {
        throw PropertyViolation("member payload does not round-trip");
      }
      break;
    }
    case 1: {
      const rendezvous::JobRecord r = rendezvous::DecodeJob(text, where);
      const rendezvous::JobRecord again = rendezvous::DecodeJob(rendezvous::EncodeJob(r), where);
      if (again.token != r.token || again.config_text != r.config_text || again.state != r.state ||
          again.created_at_unix_ms != r.created_at_unix_ms ||
          again.changed_at_unix_ms != r.changed_at_unix_ms) {
        throw PropertyViolation("job record does not round-trip");
      }
      // The outcome of a finished / failed run (issue 12) round-trips too.
      const rendezvous::JobOutcome &a = r.outcome, &b = again.outcome;
      const bool same_objective = a.objective == b.objective ||
                                  (!std::isfinite(a.objective) && !std::isfinite(b.objective));
      if ((r.state == "finished" &&
           (a.final_epoch != b.final_epoch || a.model_path != b.model_path || !same_objective ||
            a.ended_at_unix_ms != b.ended_at_unix_ms)) ||
          (r.state == "failed" && (a.cause != b.cause || a.reported_by != b.reported_by ||
                                   a.ended_at_unix_ms != b.ended_at_unix_ms))) {
        throw PropertyViolation("job outcome does not round-trip");
      }
      break;
    }
    case 2: {
      const rendezvous::RingRecord r = rendezvous::DecodeRing(text, where);
      const rendezvous::RingRecord again = rendezvous::DecodeRing(rendezvous::EncodeRing(r), where);
      if (again.generation != r.generation || again.members != r.members ||
          again.max_seq != r.max_seq || again.state != r.state) {
        throw PropertyViolation("ring record does not round-trip");
      }
      break;
    }
    case 3: {
      const rendezvous::CheckpointRecord r = rendezvous::DecodeCheckpoint(text, where);
      const rendezvous::CheckpointRecord again =
          rendezvous::DecodeCheckpoint(rendezvous::EncodeCheckpoint(r), where);
      if (again.epoch != r.epoch || again.path != r.path || again.bytes != r.bytes ||
          again.checksum != r.checksum || again.world_size != r.world_size) {
        throw PropertyViolation("checkpoint record does not round-trip");
      }
      break;
    }
    case 4: {
      const auto epoch = rendezvous::DecodeLatest(text);
      if (epoch && rendezvous::DecodeLatest(rendezvous::EncodeLatest(epoch)) != epoch) {
        throw PropertyViolation("latest does not round-trip");
      }
      break;
    }
    case 5: {
      const auto epoch = rendezvous::ParseEpochNodeName(text);
      if (epoch && *epoch >= 0 &&
          rendezvous::ParseEpochNodeName(rendezvous::EpochNodeName(*epoch)) != epoch) {
        throw PropertyViolation("epoch node name does not round-trip");
      }
      (void)rendezvous::MemberSequence(text);
      (void)rendezvous::MemberUuid(text);
      break;
    }
    case 6: {
      const std::size_t nul = text.find('\0');
      const std::string a = text.substr(0, nul);
      const std::string b = nul == std::string::npos ? std::string() : text.substr(nul + 1);
      if (!rendezvous::DiffConfig(a, a).empty())
        throw PropertyViolation("config differs from itself");
      (void)rendezvous::DiffConfig(a, b);
      break;
    }
    default:
      rendezvous::ValidateJobName(text);
      break;
  }
}

void RunHandshake(Bytes input) {
  const auto* data = reinterpret_cast<const std::byte*>(input.data());
  if (input.size() >= allreduce::kHelloFixedBytes) {
    (void)allreduce::HelloLength(data);
  }
  if (const auto hello = allreduce::DecodeHello(data, input.size())) {
    const std::vector<std::byte> again = allreduce::EncodeHello(*hello);
    if (again.size() != input.size() || std::memcmp(again.data(), data, input.size()) != 0) {
      throw PropertyViolation("hello does not round-trip");
    }
    Ring ring;
    ring.job = "job";
    ring.token = "token";
    ring.generation = 3;
    ring.members.resize(3);
    ring.rank = 1;
    (void)allreduce::DescribeStatus(allreduce::CheckHello(*hello, ring));
  }
  if (input.size() >= allreduce::kReplyBytes) {
    if (const auto reply = allreduce::DecodeReply(data)) {
      (void)allreduce::DescribeStatus(reply->status);
      const std::vector<std::byte> again = allreduce::EncodeReply(*reply);
      if (std::memcmp(again.data(), data, allreduce::kReplyBytes) != 0) {
        throw PropertyViolation("reply does not round-trip");
      }
    }
  }
}

const std::vector<Target>& Targets() {
  static const std::vector<Target> kTargets = {{"libsvm", RunLibsvm}, {"csv", RunCsv},
                                               {"idx", RunIdx},       {"model", RunModel},
                                               {"znode", RunZnode},   {"handshake", RunHandshake}};
  return kTargets;
}

}  // namespace ringtrain::fuzz
