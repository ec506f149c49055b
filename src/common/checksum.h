// common/checksum.h — checksums for files and payloads, and the config hash.
//
// CRC-32 comes from zlib (hardware-assisted where zlib has it, and already a dependency for
// gzip'd IDX files). The config hash is FNV-1a 64: it detects differing configs, it is not a
// security measure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringtrain {

std::uint32_t Crc32(std::span<const std::byte> data, std::uint32_t seed = 0);
std::uint32_t Crc32(std::string_view data, std::uint32_t seed = 0);
std::uint64_t Fnv1a64(std::string_view data);
// 16 lower-case hex digits.
std::string Hex64(std::uint64_t v);
// 8 lower-case hex digits.
std::string Hex32(std::uint32_t v);

}  // namespace ringtrain
