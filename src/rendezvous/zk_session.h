// rendezvous/zk_session.h — a move-only ZooKeeper session (internal to the rendezvous box).
//
// Wraps one zhandle_t of libzookeeper_mt. The library's callbacks (session events, watch
// notifications, auth completion) only record into a mutex+condvar queue; the owner drains it
// with WaitEvent(). Connection loss means "outcome unknown" (calls return kZConnectionLoss and
// the library reconnects by itself); expiry means this member is dead (expired() turns true).
//
// Thread-safety: the synchronous calls may be made from several threads at once (the mt
// library serialises them); WaitEvent from one thread. No call from inside a callback.
// This header does not include zookeeper.h; return codes are the ZooKeeper ZOO_ERRORS values.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/deadline.h"

namespace ringtrain::rendezvous {

// ZooKeeper return codes used by the box (checked against zookeeper.h in zk_session.cc).
inline constexpr int kZOk = 0;
inline constexpr int kZConnectionLoss = -4;
inline constexpr int kZOperationTimeout = -7;
inline constexpr int kZNoNode = -101;
inline constexpr int kZNoAuth = -102;
inline constexpr int kZBadVersion = -103;
inline constexpr int kZNodeExists = -110;
inline constexpr int kZNotEmpty = -111;
inline constexpr int kZSessionExpired = -112;
inline constexpr int kZInvalidState = -9;

std::string ZkErrorText(int rc);

struct NodeStat {
  std::int64_t czxid = 0;
  std::int64_t mzxid = 0;
  std::int64_t ctime_ms = 0;  // server clock, ms since the epoch
  std::int64_t mtime_ms = 0;
  std::int64_t ephemeral_owner = 0;
  std::int32_t version = 0;
  std::int32_t cversion = 0;
  std::int32_t num_children = 0;
};

enum class ZkEventType { kSession, kCreated, kDeleted, kChanged, kChild, kNotWatching, kWake };
enum class ZkState { kConnecting, kConnected, kExpired, kAuthFailed, kClosed };

struct ZkEvent {
  ZkEventType type = ZkEventType::kWake;
  ZkState state = ZkState::kConnecting;
  std::string path;
};

struct ZkOp {
  enum class Kind { kCreate, kSet, kDelete, kCheck };
  Kind kind = Kind::kCheck;
  std::string path;
  std::string data;
  int version = -1;
  static ZkOp Create(std::string p, std::string d) {
    return {Kind::kCreate, std::move(p), std::move(d), -1};
  }
  static ZkOp Set(std::string p, std::string d, int v) {
    return {Kind::kSet, std::move(p), std::move(d), v};
  }
  static ZkOp Delete(std::string p, int v) { return {Kind::kDelete, std::move(p), {}, v}; }
  static ZkOp Check(std::string p, int v) { return {Kind::kCheck, std::move(p), {}, v}; }
};

// kRoot: the shared root (and the parents ringtrain creates for it): world:anyone may read
// it and create jobs under it (cr) but not delete, change or re-ACL it; a secure session's
// own identity gets every permission too (docs/rendezvous.md, "ACLs").
enum class CreateMode { kPersistent, kRoot, kEphemeralSequential };

// One ACL entry (scheme "world", "digest", "ip", ...; perms: ZooKeeper's bits r=1 w=2 c=4
// d=8 a=16).
struct AclEntry {
  std::string scheme;
  std::string id;
  int perms = 0;
  bool operator==(const AclEntry&) const = default;
};
inline constexpr int kPermRead = 1, kPermWrite = 2, kPermCreate = 4, kPermDelete = 8,
                     kPermAdmin = 16, kPermAll = 31;
// "world:anyone:cr, digest:alice:cdrwa" — a digest's password hash is left out.
std::string DescribeAcl(const std::vector<AclEntry>& acl);
// The digest id the server gives "user:password": user:base64(sha1(user:password)).
std::string DigestId(const std::string& auth);

class ZkSession {
 public:
  // Connects and waits for CONNECTED (and for digest auth when `auth` is "user:password").
  // Throws RendezvousError naming `hosts` and the state reached when the deadline passes.
  static ZkSession Connect(const std::string& hosts, const std::string& auth,
                           std::chrono::milliseconds session_timeout, Deadline deadline,
                           bool deterministic_order = false);
  ZkSession(ZkSession&&) noexcept;
  ZkSession& operator=(ZkSession&&) noexcept;
  ZkSession(const ZkSession&) = delete;
  ZkSession& operator=(const ZkSession&) = delete;
  ~ZkSession();  // Close()

  // Node creation uses the creator-only ACL when the session authenticated, else open.
  int Create(const std::string& path, const std::string& data, CreateMode mode,
             std::string* created_path);
  int Get(const std::string& path, std::string* data, NodeStat* stat, bool watch);
  int Exists(const std::string& path, NodeStat* stat, bool watch);
  int Children(const std::string& path, std::vector<std::string>* children, bool watch);
  int Set(const std::string& path, const std::string& data, int version);
  int Delete(const std::string& path, int version);
  int GetAcl(const std::string& path, std::vector<AclEntry>* acl);
  int SetAcl(const std::string& path, const std::vector<AclEntry>& acl, int version);
  // A persistent node with exactly `acl` (tests: a hostile client's nodes).
  int CreateWithAcl(const std::string& path, const std::string& data,
                    const std::vector<AclEntry>& acl);
  // All or nothing. `results` gets one code per op (the failing op's code tells which).
  int Multi(const std::vector<ZkOp>& ops, std::vector<int>* results);

  // Pops the next event; false when the deadline passes first.
  bool WaitEvent(ZkEvent* event, Deadline deadline);
  void Wake();  // makes a pending WaitEvent return a kWake event

  std::int64_t session_id() const;
  std::chrono::milliseconds negotiated_timeout() const;
  ZkState state() const;
  bool expired() const;
  bool secure() const;
  const std::string& hosts() const;
  std::int64_t notifications() const;  // watch notifications (not session events) delivered
  void Close();                        // idempotent; ephemerals of this session go at once

  struct Impl;

 private:
  explicit ZkSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// For a ZNOAUTH on `path`: "the ACL of <node> is <DescribeAcl>" for the nearest existing node
// at or above `path` whose ACL can be read (a create fails on its parent's ACL), or "its ACL
// cannot be read either". One ZooKeeper read per level.
std::string AclNote(ZkSession& session, const std::string& path);
// The one-line hint of a ZNOAUTH: what the user can do, given whether they passed --zk-auth.
std::string NoAuthHint(bool with_auth);

// Retries an idempotent call on connection loss / operation timeout until the deadline.
template <typename Fn>
int RetryIdempotent(Fn&& fn, Deadline deadline) {
  for (;;) {
    int rc = fn();
    if ((rc != kZConnectionLoss && rc != kZOperationTimeout) || deadline.Expired()) return rc;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the library reconnects
  }
}

}  // namespace ringtrain::rendezvous
