// allreduce/handshake.h — the TCP connection handshake, pure encode/decode/check.
//
// The connecting side (rank r, towards its successor) sends a Hello:
//   u32 magic 'RTR1' | u32 version | i64 generation | i32 rank | i32 world |
//   u16 job length | u16 token length | job bytes | token bytes      (little-endian)
// The accepting side checks it against its Ring (job, token, generation, expected rank,
// world) and answers with a Reply: u32 magic 'RTRA' | u32 status | i32 rank | i64 generation.
// A garbage prefix (wrong magic/version, oversize lengths) gets no reply: it is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ring.h"

namespace ringtrain::allreduce {

inline constexpr std::uint32_t kHelloMagic = 0x31525452;  // "RTR1"
inline constexpr std::uint32_t kReplyMagic = 0x41525452;  // "RTRA"
inline constexpr std::uint32_t kProtocolVersion = 2;  // 2: a link offer follows (tcp_connect.cc)
inline constexpr std::size_t kHelloFixedBytes = 28;
inline constexpr std::size_t kReplyBytes = 20;
inline constexpr std::size_t kMaxHelloString = 4096;

enum class HelloStatus : std::uint32_t {
  kOk = 0,
  kWrongJob = 1,
  kWrongToken = 2,
  kWrongGeneration = 3,
  kWrongRank = 4,
  kWrongWorld = 5,
};
std::string DescribeStatus(HelloStatus status);

struct Hello {
  std::int64_t generation = 0;
  std::int32_t rank = 0;
  std::int32_t world = 0;
  std::string job;
  std::string token;
};

std::vector<std::byte> EncodeHello(const Hello& hello);
// From the first kHelloFixedBytes: total hello length, or nullopt for garbage.
std::optional<std::size_t> HelloLength(const std::byte* fixed);
// Whole hello (HelloLength bytes) to a value; nullopt for garbage.
std::optional<Hello> DecodeHello(const std::byte* data, std::size_t size);
// What the acceptor of `ring` thinks of `hello` from its would-be predecessor.
HelloStatus CheckHello(const Hello& hello, const Ring& ring);

struct Reply {
  HelloStatus status = HelloStatus::kOk;
  std::int32_t rank = 0;
  std::int64_t generation = 0;
};
std::vector<std::byte> EncodeReply(const Reply& reply);
std::optional<Reply> DecodeReply(const std::byte* data);  // kReplyBytes

}  // namespace ringtrain::allreduce
