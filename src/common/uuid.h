// common/uuid.h — random identifiers (member uuids, job tokens) from /dev/urandom.
#pragma once

#include <string>

namespace ringtrain {

// 32 lower-case hex digits (128 random bits), no dashes: safe inside znode names.
std::string RandomHexId();

}  // namespace ringtrain
