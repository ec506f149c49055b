#include "common/uuid.h"

#include <array>
#include <cstdint>
#include <fstream>
#include <random>

#include "common/error.h"

namespace ringtrain {

std::string RandomHexId() {
  std::array<unsigned char, 16> bytes{};
  std::ifstream in("/dev/urandom", std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), bytes.size())) {
    // std::random_device is backed by the same kernel source on Linux; use it as fallback.
    std::random_device rd;
    for (auto& b : bytes) b = static_cast<unsigned char>(rd());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace ringtrain
