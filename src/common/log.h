// common/log.h — leveled logging to stderr.
//
// Line shape: "<level> <HH:MM:SS.mmm> r<rank>/<world> g<generation> <message>". The rank
// context is per thread (threads-as-ranks tests run several ranks in one process); the sink
// (stderr) and the minimum level are the one piece of process-wide state (STYLE.md lesson 3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringtrain::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLevel(Level level);
Level GetLevel();
// Parses "debug|info|warn|error"; returns false on anything else.
bool ParseLevel(std::string_view text, Level* out);

// Per-thread context shown in every line; rank < 0 hides it.
void SetContext(int rank, int world, std::int64_t generation);

void Write(Level level, std::string_view message);
inline void Debug(std::string_view m) { Write(Level::kDebug, m); }
inline void Info(std::string_view m) { Write(Level::kInfo, m); }
inline void Warn(std::string_view m) { Write(Level::kWarn, m); }
inline void Error(std::string_view m) { Write(Level::kError, m); }

}  // namespace ringtrain::log
