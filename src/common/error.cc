#include "common/error.h"

namespace ringtrain {
namespace {
std::string Compose(const std::string& what, const std::string& where, const std::string& hint) {
  std::string s = what;
  if (!where.empty()) s += " (at " + where + ")";
  if (!hint.empty()) s += "; " + hint;
  return s;
}
}  // namespace

Error::Error(ExitCode code, std::string what, std::string where, std::string hint)
    : std::runtime_error(Compose(what, where, hint)),
      code_(code),
      what_(std::move(what)),
      where_(std::move(where)),
      hint_(std::move(hint)) {}

std::string FormatError(const Error& e) { return e.what(); }

}  // namespace ringtrain
