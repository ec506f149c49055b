#include "allreduce/handshake.h"

namespace ringtrain::allreduce {
namespace {

void Put(std::vector<std::byte>* out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}
std::uint64_t Get(const std::byte* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= std::uint64_t{std::to_integer<std::uint8_t>(p[i])} << (8 * i);
  return v;
}

}  // namespace

std::string DescribeStatus(HelloStatus status) {
  switch (status) {
    case HelloStatus::kOk:
      return "accepted";
    case HelloStatus::kWrongJob:
      return "another job";
    case HelloStatus::kWrongToken:
      return "wrong job token";
    case HelloStatus::kWrongGeneration:
      return "another ring generation";
    case HelloStatus::kWrongRank:
      return "not the expected ring neighbour";
    case HelloStatus::kWrongWorld:
      return "another world size";
  }
  return "unknown status " + std::to_string(static_cast<std::uint32_t>(status));
}

std::vector<std::byte> EncodeHello(const Hello& hello) {
  std::vector<std::byte> out;
  Put(&out, kHelloMagic, 4);
  Put(&out, kProtocolVersion, 4);
  Put(&out, static_cast<std::uint64_t>(hello.generation), 8);
  Put(&out, static_cast<std::uint32_t>(hello.rank), 4);
  Put(&out, static_cast<std::uint32_t>(hello.world), 4);
  Put(&out, hello.job.size(), 2);
  Put(&out, hello.token.size(), 2);
  for (char c : hello.job) out.push_back(static_cast<std::byte>(c));
  for (char c : hello.token) out.push_back(static_cast<std::byte>(c));
  return out;
}

std::optional<std::size_t> HelloLength(const std::byte* fixed) {
  if (Get(fixed, 4) != kHelloMagic || Get(fixed + 4, 4) != kProtocolVersion) return std::nullopt;
  const std::size_t job = Get(fixed + 24, 2);
  const std::size_t token = Get(fixed + 26, 2);
  if (job > kMaxHelloString || token > kMaxHelloString) return std::nullopt;
  return kHelloFixedBytes + job + token;
}

std::optional<Hello> DecodeHello(const std::byte* data, std::size_t size) {
  if (size < kHelloFixedBytes) return std::nullopt;
  auto length = HelloLength(data);
  if (!length || *length != size) return std::nullopt;
  Hello h;
  h.generation = static_cast<std::int64_t>(Get(data + 8, 8));
  h.rank = static_cast<std::int32_t>(Get(data + 16, 4));
  h.world = static_cast<std::int32_t>(Get(data + 20, 4));
  const std::size_t job = Get(data + 24, 2);
  const char* text = reinterpret_cast<const char*>(data + kHelloFixedBytes);
  h.job.assign(text, job);
  h.token.assign(text + job, size - kHelloFixedBytes - job);
  return h;
}

HelloStatus CheckHello(const Hello& hello, const Ring& ring) {
  if (hello.job != ring.job) return HelloStatus::kWrongJob;
  if (hello.token != ring.token) return HelloStatus::kWrongToken;
  if (hello.generation != ring.generation) return HelloStatus::kWrongGeneration;
  if (hello.world != ring.world_size()) return HelloStatus::kWrongWorld;
  if (hello.rank != ring.prev()) return HelloStatus::kWrongRank;
  return HelloStatus::kOk;
}

std::vector<std::byte> EncodeReply(const Reply& reply) {
  std::vector<std::byte> out;
  Put(&out, kReplyMagic, 4);
  Put(&out, static_cast<std::uint32_t>(reply.status), 4);
  Put(&out, static_cast<std::uint32_t>(reply.rank), 4);
  Put(&out, static_cast<std::uint64_t>(reply.generation), 8);
  return out;
}

std::optional<Reply> DecodeReply(const std::byte* data) {
  if (Get(data, 4) != kReplyMagic) return std::nullopt;
  Reply r;
  r.status = static_cast<HelloStatus>(Get(data + 4, 4));
  r.rank = static_cast<std::int32_t>(Get(data + 8, 4));
  r.generation = static_cast<std::int64_t>(Get(data + 12, 8));
  return r;
}

}  // namespace ringtrain::allreduce
