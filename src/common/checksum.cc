#include "common/checksum.h"

#include <zlib.h>

#include <cstdio>

namespace ringtrain {

std::uint32_t Crc32(std::span<const std::byte> data, std::uint32_t seed) {
  uLong crc = seed;
  const auto* p = reinterpret_cast<const Bytef*>(data.data());
  std::size_t left = data.size();
  // zlib takes uInt lengths; feed it in bounded pieces.
  while (left > 0) {
    const std::size_t n = left > (1u << 30) ? (1u << 30) : left;
    crc = crc32(crc, p, static_cast<uInt>(n));
    p += n;
    left -= n;
  }
  return static_cast<std::uint32_t>(crc);
}

std::uint32_t Crc32(std::string_view data, std::uint32_t seed) {
  return Crc32(std::as_bytes(std::span(data.data(), data.size())), seed);
}

std::uint64_t Fnv1a64(std::string_view data) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string Hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Hex32(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

}  // namespace ringtrain
