// common/file_util.h — whole-file reads and atomic writes.
//
// WriteFileAtomically: temp file in the same directory, write, fsync, rename over the target,
// fsync the directory. A crash leaves either the old file or the new one, never half of one.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace ringtrain {

// Throws `Error` with the given exit code on failure, naming the path and errno text.
void WriteFileAtomically(const std::string& path, std::span<const std::byte> data,
                         ExitCode code_on_error);
std::vector<std::byte> ReadWholeFile(const std::string& path, ExitCode code_on_error);

}  // namespace ringtrain
