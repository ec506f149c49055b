// models/model_file.cc — the binary model file (docs/formats.md "Model file").
//
// Little-endian, fixed layout (version 2; version 1 lacks bytes 64-95 and is still read):
//   0  char[8]  magic "RTMODEL1"
//   8  u32      format version (2)
//  12  u32      model kind (ModelKind codes, loss_info.h; follows from the loss, checked)
//  16  u32      loss (Loss codes, loss_info.h)
//  20  u32      multiclass (0 ovr, 1 multinomial)
//  24  u32      flags (bit 0: bias)
//  28  u32      number of classes K (0 for regression, else >= 2)
//  32  f64      bias value
//  40  i64      num_features
//  48  i64      epoch
//  56  i64      number of weights W (= outputs * (num_features + bias))
//  64  f64      C (0 = not recorded)
//  72  f64      epsilon (the epsilon losses' insensitive zone)
//  80  u32      penalty (0 l2, 1 l1, 2 elastic)
//  84  u32      reserved, 0
//  88  f64      l1_ratio (elastic net)
//  96  f64[K]   class labels, ascending
//      f64[W]   weights, output-major
//      u32      CRC-32 (zlib) of every byte before it
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "common/error.h"
#include "common/file_util.h"
#include "models/linear_model.h"

namespace ringtrain::models {
namespace {

static_assert(std::endian::native == std::endian::little, "model files are little-endian");

constexpr char kMagic[8] = {'R', 'T', 'M', 'O', 'D', 'E', 'L', '1'};
constexpr std::uint32_t kVersion = 2;
constexpr std::size_t kHeaderBytesV1 = 64;
constexpr std::size_t kHeaderBytes = 96;

template <class T>
void Put(std::vector<std::byte>& out, T v) {
  const std::size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const std::string& where)
      : bytes_(bytes), where_(where) {}
  template <class T>
  T Get(const char* field) {
    if (pos_ + sizeof(T) > bytes_.size()) {
      throw DataError("truncated model file: " + std::to_string(bytes_.size()) +
                          " bytes, ends inside " + field + " at byte " + std::to_string(pos_),
                      where_, "the file is incomplete; re-save or re-copy the model");
    }
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::size_t pos() const { return pos_; }

 private:
  std::span<const std::byte> bytes_;
  const std::string& where_;
  std::size_t pos_ = 0;
};

std::uint32_t KindOf(Loss loss) { return static_cast<std::uint32_t>(Info(loss).model); }

}  // namespace

std::vector<std::byte> SerializeModel(const LinearModel& model) {
  const ModelSpec& s = model.spec;
  if (model.weights.size() != static_cast<std::size_t>(s.num_weights())) {
    throw UsageError("model weights do not match its shape", "SerializeModel",
                     "weights must have num_outputs * dim entries");
  }
  std::vector<std::byte> out;
  out.reserve(kHeaderBytes + 8 * (s.classes.size() + model.weights.size()) + 4);
  static_assert(kHeaderBytes == 96);
  for (char c : kMagic) out.push_back(static_cast<std::byte>(c));
  Put<std::uint32_t>(out, kVersion);
  Put<std::uint32_t>(out, KindOf(s.loss));
  Put<std::uint32_t>(out, static_cast<std::uint32_t>(s.loss));
  Put<std::uint32_t>(out, static_cast<std::uint32_t>(s.multiclass));
  Put<std::uint32_t>(out, s.bias ? 1u : 0u);
  Put<std::uint32_t>(out, static_cast<std::uint32_t>(s.classes.size()));
  Put<double>(out, s.bias_value);
  Put<std::int64_t>(out, s.num_features);
  Put<std::int64_t>(out, model.epoch);
  Put<std::int64_t>(out, static_cast<std::int64_t>(model.weights.size()));
  Put<double>(out, model.c);
  Put<double>(out, s.epsilon);
  Put<std::uint32_t>(out, static_cast<std::uint32_t>(model.penalty));
  Put<std::uint32_t>(out, 0u);
  Put<double>(out, model.l1_ratio);
  for (double c : s.classes) Put<double>(out, c);
  for (double w : model.weights) Put<double>(out, w);
  Put<std::uint32_t>(out, Crc32(out));
  return out;
}

LinearModel DeserializeModel(std::span<const std::byte> bytes, const std::string& where) {
  const std::string hint = "re-save or re-copy the model";
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    throw DataError(bytes.size() < 8 ? "not a ringtrain model file (too short for the magic)"
                                     : "not a ringtrain model file (bad magic)",
                    where, "give a file written by 'ringtrain train'");
  }
  Reader in(bytes.subspan(8), where);
  const auto version = in.Get<std::uint32_t>("version");
  if (version != kVersion && version != 1) {
    throw DataError("unsupported model file version " + std::to_string(version) +
                        " (this build reads versions 1 to " + std::to_string(kVersion) + ")",
                    where, "use the ringtrain release that wrote the file");
  }
  LinearModel m;
  const auto kind = in.Get<std::uint32_t>("kind");
  const auto loss = in.Get<std::uint32_t>("loss");
  const auto mc = in.Get<std::uint32_t>("multiclass");
  const auto flags = in.Get<std::uint32_t>("flags");
  const auto num_classes = in.Get<std::uint32_t>("class count");
  m.spec.bias_value = in.Get<double>("bias value");
  m.spec.num_features = in.Get<std::int64_t>("feature count");
  m.epoch = in.Get<std::int64_t>("epoch");
  const auto num_weights = in.Get<std::int64_t>("weight count");
  std::uint32_t penalty = 0, reserved = 0;
  if (version >= 2) {
    m.c = in.Get<double>("C");
    m.spec.epsilon = in.Get<double>("epsilon");
    penalty = in.Get<std::uint32_t>("penalty");
    reserved = in.Get<std::uint32_t>("reserved");
    m.l1_ratio = in.Get<double>("l1_ratio");
  }
  // Bounds before allocating: the sizes must fit the bytes we have.
  const std::size_t header = version >= 2 ? kHeaderBytes : kHeaderBytesV1;
  const std::size_t body = bytes.size() - std::min(bytes.size(), header);
  if (num_classes > body / 8 || num_weights < 0 ||
      static_cast<std::uint64_t>(num_weights) > body / 8) {
    throw DataError("truncated model file: header promises " + std::to_string(num_classes) +
                        " classes and " + std::to_string(num_weights) + " weights, " +
                        std::to_string(bytes.size()) + " bytes present",
                    where, hint);
  }
  m.spec.classes.resize(num_classes);
  for (double& c : m.spec.classes) c = in.Get<double>("class labels");
  m.weights.resize(static_cast<std::size_t>(num_weights));
  for (double& w : m.weights) w = in.Get<double>("weights");
  const std::size_t crc_at = 8 + in.pos();
  const auto stored = in.Get<std::uint32_t>("checksum");
  if (crc_at + 4 != bytes.size()) {
    throw DataError("model file has " + std::to_string(bytes.size() - crc_at - 4) +
                        " unexpected trailing bytes",
                    where, hint);
  }
  const std::uint32_t actual = Crc32(bytes.first(crc_at));
  if (stored != actual) {
    throw DataError("corrupted model file: CRC-32 " + Hex32(actual) + " != stored " + Hex32(stored),
                    where, hint);
  }
  // Content checks (a matching CRC over nonsense means a buggy writer, still reject).
  const bool regression = IsLossCode(loss) && IsRegression(static_cast<Loss>(loss));
  if (!IsLossCode(loss) || mc > 1 || kind != KindOf(static_cast<Loss>(loss)) ||
      (flags & ~1u) != 0 || (regression ? num_classes != 0 : num_classes < 2) || penalty > 2 ||
      reserved != 0 || !(m.c >= 0) || !(m.spec.epsilon >= 0) || !(m.l1_ratio >= 0) ||
      !(m.l1_ratio <= 1) || m.spec.num_features < 0 ||
      m.spec.num_features > num_weights ||  // fuzzing: else num_weights() overflows int64
      !std::is_sorted(m.spec.classes.begin(), m.spec.classes.end())) {
    throw DataError("inconsistent model file header", where, hint);
  }
  m.spec.loss = static_cast<Loss>(loss);
  m.spec.multiclass = static_cast<Multiclass>(mc);
  m.spec.bias = (flags & 1u) != 0;
  m.penalty = static_cast<Penalty>(penalty);
  if (m.spec.num_weights() != num_weights) {
    throw DataError("model file weight count " + std::to_string(num_weights) +
                        " does not match its shape " + std::to_string(m.spec.num_weights()),
                    where, hint);
  }
  return m;
}

void SaveModel(const LinearModel& model, const std::string& path) {
  WriteFileAtomically(path, SerializeModel(model), ExitCode::kData);
}

LinearModel LoadModel(const std::string& path) {
  // Refuse non-regular files before reading: a FIFO with no writer would block forever.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw DataError("not a readable regular model file", path,
                    "give a model file written by ringtrain train --output");
  }
  std::vector<std::byte> bytes;
  try {
    bytes = ReadWholeFile(path, ExitCode::kData);
  } catch (const DataError&) {
    throw;
  } catch (const Error& e) {  // ReadWholeFile throws the base type; keep the typed error
    throw DataError("cannot read model file: " + e.what_happened(), path, "check the --model path");
  }
  return DeserializeModel(bytes, path);
}

}  // namespace ringtrain::models
