// rendezvous/records.h — znode paths and payloads of a job (internal to the rendezvous box).
//
// Layout under <root>/<job> (docs/rendezvous.md): the job node holds JobRecord JSON;
// members/ holds "_c_<uuid>-m-NNNNNNNNNN" ephemerals (data: common::MemberToJson); ring holds
// RingRecord JSON; checkpoints/epoch-NNNNNNNNNN hold CheckpointRecord JSON; latest holds
// {"epoch": N} or "" when there is none. Pure functions: no ZooKeeper here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ring.h"
#include "rendezvous/rendezvous.h"

namespace ringtrain::rendezvous {

struct JobPaths {
  std::string job;      // /<root>/<job>
  std::string members;  // .../members
  std::string ring;     // .../ring
  std::string checkpoints;
  std::string latest;
  std::string partitions;  // the partition map (common/partition.h), made by the first leader
  static JobPaths For(const std::string& root, const std::string& job);
};

struct JobRecord {
  std::string config_text;
  std::string config_hash;
  std::string creator;  // host:pid of the creating process
  std::int64_t created_at_unix_ms = 0;
  // forming | running | lost | refused (the publications) | finished | failed (the outcome)
  std::string state = "forming";
  std::string token;
  std::int64_t changed_at_unix_ms = 0;  // the writer's clock at the last state change
  // finished: the final epoch, objective and model path; failed: the cause (the error line)
  // and the rank that reported it. Cleared when a new run's ring goes active.
  JobOutcome outcome;
};
std::string EncodeJob(const JobRecord& r);
JobRecord DecodeJob(const std::string& text, const std::string& where);

// A member node's payload: the member, the options every rank of the run must share
// (Options::agreed_text) and, when its config differs from the job record's, why.
struct MemberRecord {
  Member member;
  std::string agreed;
  std::string refusal;  // "" = none
};
std::string EncodeMember(const MemberRecord& r);
MemberRecord DecodeMember(const std::string& text, const std::string& where);
// One line naming each key whose value differs among `texts` ("key = value" lines), with
// every value and who gave it: "epochs ('5' on rank 0 (h:p), rank 1 (h:p); '7' on rank 2
// (h:p))"; "" when they all agree. `who[i]` names texts[i].
std::string DescribeDisagreement(const std::vector<std::string>& who,
                                 const std::vector<std::string>& texts);

// The published ring. state: "none" (never published), "active", "lost", "refused" (the
// members disagree on options: every member named exits with a usage error).
struct RingRecord {
  std::int64_t generation = 0;
  std::string state = "none";
  std::vector<Member> members;  // ring order (by sequence); names carry the sequence
  std::int64_t max_seq = -1;    // highest member sequence in this ring
  std::string reason;           // why this generation was published
  std::int64_t session_timeout_ms = 0;
  std::int64_t time_unix_ms = 0;
  std::string agreed;  // the options text every member of this ring gave (the leader's)
  bool Contains(const std::string& name) const;
};
std::string EncodeRing(const RingRecord& r);
RingRecord DecodeRing(const std::string& text, const std::string& where);

std::string EncodeCheckpoint(const CheckpointRecord& r);
CheckpointRecord DecodeCheckpoint(const std::string& text, const std::string& where);
std::string EpochNodeName(std::int64_t epoch);  // epoch-NNNNNNNNNN
std::optional<std::int64_t> ParseEpochNodeName(const std::string& name);
std::string EncodeLatest(std::optional<std::int64_t> epoch);
std::optional<std::int64_t> DecodeLatest(const std::string& text);

// "_c_<uuid>-m-0000000012" -> 12; -1 if the name has no such suffix.
std::int64_t MemberSequence(const std::string& name);
// The uuid of a protected member name, "" if none.
std::string MemberUuid(const std::string& name);
std::int64_t NowUnixMs();

}  // namespace ringtrain::rendezvous
