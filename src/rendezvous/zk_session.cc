// rendezvous/zk_session.cc — the one file (with the other rendezvous .cc files) that talks to
// libzookeeper_mt. Callbacks copy (type, state, path) into a queue and return: no ZooKeeper
// call and no user code ever runs on the library's completion thread.
#include "rendezvous/zk_session.h"

#include <netdb.h>
#include <sys/socket.h>
#include <zookeeper/zookeeper.h>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>

#include "common/error.h"
#include "common/log.h"

namespace ringtrain::rendezvous {

static_assert(kZConnectionLoss == ZCONNECTIONLOSS && kZNoNode == ZNONODE && kZNoAuth == ZNOAUTH &&
              kZBadVersion == ZBADVERSION && kZNodeExists == ZNODEEXISTS &&
              kZNotEmpty == ZNOTEMPTY && kZSessionExpired == ZSESSIONEXPIRED &&
              kZOperationTimeout == ZOPERATIONTIMEOUT && kZInvalidState == ZINVALIDSTATE &&
              kZOk == ZOK);

std::string ZkErrorText(int rc) { return zerror(rc); }

struct ZkSession::Impl {
  std::string hosts;
  bool secure = false;
  zhandle_t* zh = nullptr;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<ZkEvent> queue;
  ZkState state = ZkState::kConnecting;
  bool auth_done = false;
  int auth_rc = ZOK;
  std::int64_t notifications = 0;

  ~Impl() { Close(); }
  void Close() {
    zhandle_t* h = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu);
      h = zh;
      zh = nullptr;
    }
    // Outside the lock: zookeeper_close joins the library threads, which may be waiting in
    // OnWatch for `mu`.
    if (h != nullptr) zookeeper_close(h);
    std::lock_guard<std::mutex> lock(mu);
    if (state != ZkState::kExpired) state = ZkState::kClosed;
    cv.notify_all();
  }
  zhandle_t* handle() const {
    std::lock_guard<std::mutex> lock(mu);
    return zh;
  }

  static ZkState MapState(int s) {
    if (s == ZOO_CONNECTED_STATE || s == ZOO_READONLY_STATE) return ZkState::kConnected;
    if (s == ZOO_EXPIRED_SESSION_STATE) return ZkState::kExpired;
    if (s == ZOO_AUTH_FAILED_STATE) return ZkState::kAuthFailed;
    return ZkState::kConnecting;
  }
  static ZkEventType MapType(int t) {
    if (t == ZOO_SESSION_EVENT) return ZkEventType::kSession;
    if (t == ZOO_CREATED_EVENT) return ZkEventType::kCreated;
    if (t == ZOO_DELETED_EVENT) return ZkEventType::kDeleted;
    if (t == ZOO_CHANGED_EVENT) return ZkEventType::kChanged;
    if (t == ZOO_CHILD_EVENT) return ZkEventType::kChild;
    return ZkEventType::kNotWatching;
  }

  // Runs on the library's completion thread: record and signal, nothing else.
  static void OnWatch(zhandle_t*, int type, int state, const char* path, void* ctx) {
    auto* self = static_cast<Impl*>(ctx);
    ZkEvent ev;
    ev.type = MapType(type);
    ev.state = MapState(state);
    ev.path = path != nullptr ? path : "";
    std::lock_guard<std::mutex> lock(self->mu);
    if (ev.type == ZkEventType::kSession) {
      if (self->state != ZkState::kExpired && self->state != ZkState::kClosed) {
        self->state = ev.state;
      }
    } else {
      ++self->notifications;
    }
    self->queue.push_back(std::move(ev));
    self->cv.notify_all();
  }
  static void OnAuth(int rc, const void* ctx) {
    auto* self = static_cast<Impl*>(const_cast<void*>(ctx));
    std::lock_guard<std::mutex> lock(self->mu);
    self->auth_done = true;
    self->auth_rc = rc;
    self->cv.notify_all();
  }
};

namespace {
const char* StateName(ZkState s) {
  switch (s) {
    case ZkState::kConnecting:
      return "connecting";
    case ZkState::kConnected:
      return "connected";
    case ZkState::kExpired:
      return "session expired";
    case ZkState::kAuthFailed:
      return "authentication failed";
    case ZkState::kClosed:
      return "closed";
  }
  return "unknown";
}

void FillStat(const Stat& s, NodeStat* out) {
  if (out == nullptr) return;
  out->czxid = s.czxid;
  out->mzxid = s.mzxid;
  out->ctime_ms = s.ctime;
  out->mtime_ms = s.mtime;
  out->ephemeral_owner = s.ephemeralOwner;
  out->version = s.version;
  out->cversion = s.cversion;
  out->num_children = s.numChildren;
}

std::once_flag g_log_once;

// What is wrong with the connect string `hosts`, for the error of a failed zookeeper_init
// (its errno says little: ENOENT for a host that does not resolve) or of a failed connect (the
// client skips a host that does not resolve): the first entry that is malformed or does not
// resolve, as a RendezvousError; nullopt if every entry resolves.
std::optional<RendezvousError> DiagnoseConnectString(const std::string& hosts) {
  const std::string list = hosts.substr(0, hosts.find('/'));
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    const std::string entry = list.substr(pos, comma - pos);
    pos = comma + 1;
    const std::size_t colon = entry.rfind(':');
    std::string host = colon == std::string::npos ? entry : entry.substr(0, colon);
    const std::string port = colon == std::string::npos ? "2181" : entry.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
      return RendezvousError("malformed ZooKeeper server '" + entry + "'", hosts,
                             "write --zk host:port[,host:port][/chroot]");
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (res != nullptr) ::freeaddrinfo(res);
    if (rc != 0) {
      return RendezvousError(
          "cannot resolve the ZooKeeper host '" + host + "': " + ::gai_strerror(rc), hosts,
          "check the host names of --zk");
    }
  }
  return std::nullopt;
}
}  // namespace

ZkSession ZkSession::Connect(const std::string& hosts, const std::string& auth,
                             std::chrono::milliseconds session_timeout, Deadline deadline,
                             bool deterministic_order) {
  std::call_once(g_log_once, [] {
    // The C client logs every reconnect attempt at ERROR; our own errors say what matters.
    if (log::GetLevel() != log::Level::kDebug) zoo_set_debug_level(static_cast<ZooLogLevel>(0));
  });
  if (deterministic_order) zoo_deterministic_conn_order(1);
  auto impl = std::make_unique<Impl>();
  impl->hosts = hosts;
  impl->secure = !auth.empty();
  if (!auth.empty() && auth.find(':') == std::string::npos) {
    throw UsageError("ZooKeeper auth '" + std::string("...") + "' is not of the form user:password",
                     hosts, "pass --zk-auth user:password");
  }
  errno = 0;
  impl->zh = zookeeper_init(hosts.c_str(), &Impl::OnWatch,
                            static_cast<int>(session_timeout.count()), nullptr, impl.get(), 0);
  if (impl->zh == nullptr) {
    const int err = errno;
    if (auto why = DiagnoseConnectString(hosts)) throw *why;
    throw RendezvousError(std::string("cannot start a ZooKeeper client: ") + std::strerror(err),
                          hosts, "check the connect string (host:port[,host:port][/chroot])");
  }
  {
    std::unique_lock<std::mutex> lock(impl->mu);
    bool ok = impl->cv.wait_until(lock, deadline.at(),
                                  [&] { return impl->state != ZkState::kConnecting; });
    if (!ok || impl->state != ZkState::kConnected) {
      ZkState reached = impl->state;
      lock.unlock();
      impl->Close();
      std::string unresolved;
      if (auto why = DiagnoseConnectString(hosts)) unresolved = "; also " + why->what_happened();
      throw RendezvousError(std::string("could not connect to ZooKeeper (state reached: ") +
                                StateName(reached) + ")" + unresolved,
                            hosts, "check that a ZooKeeper server runs there and --zk is right");
    }
  }
  if (!auth.empty()) {
    int rc = zoo_add_auth(impl->zh, "digest", auth.data(), static_cast<int>(auth.size()),
                          &Impl::OnAuth, impl.get());
    std::unique_lock<std::mutex> lock(impl->mu);
    bool ok =
        rc == ZOK && impl->cv.wait_until(lock, deadline.at(), [&] { return impl->auth_done; });
    if (!ok || impl->auth_rc != ZOK) {
      int why = rc != ZOK ? rc : impl->auth_rc;
      lock.unlock();
      impl->Close();
      throw RendezvousError("ZooKeeper digest authentication failed: " +
                                (ok || rc != ZOK ? ZkErrorText(why) : std::string("timed out")),
                            hosts, "check --zk-auth user:password");
    }
  }
  return ZkSession(std::move(impl));
}

ZkSession::ZkSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZkSession::ZkSession(ZkSession&&) noexcept = default;
ZkSession& ZkSession::operator=(ZkSession&&) noexcept = default;
ZkSession::~ZkSession() = default;

int ZkSession::Create(const std::string& path, const std::string& data, CreateMode mode,
                      std::string* created_path) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  char buf[1024];
  int flags = mode == CreateMode::kEphemeralSequential ? ZOO_EPHEMERAL_SEQUENTIAL : 0;
  // The root: world may read and create (jobs), nobody else may delete or re-ACL it; a
  // secure creator keeps every permission ("auth" = this session's digest identity).
  static char kWorld[] = "world", kAnyone[] = "anyone", kAuth[] = "auth", kEmpty[] = "";
  ACL root_entries[2] = {{ZOO_PERM_READ | ZOO_PERM_CREATE, {kWorld, kAnyone}},
                         {ZOO_PERM_ALL, {kAuth, kEmpty}}};
  ACL_vector root_acl = {impl_->secure ? 2 : 1, root_entries};
  const ACL_vector* acl = mode == CreateMode::kRoot ? &root_acl
                          : impl_->secure           ? &ZOO_CREATOR_ALL_ACL
                                                    : &ZOO_OPEN_ACL_UNSAFE;
  int rc = zoo_create(zh, path.c_str(), data.data(), static_cast<int>(data.size()), acl, flags, buf,
                      sizeof buf);
  if (rc == ZOK && created_path != nullptr) *created_path = buf;
  return rc;
}

namespace {
std::vector<ACL> ToZk(const std::vector<AclEntry>& acl) {
  std::vector<ACL> out(acl.size());
  for (std::size_t i = 0; i < acl.size(); ++i) {
    out[i].perms = acl[i].perms;
    out[i].id.scheme = const_cast<char*>(acl[i].scheme.c_str());
    out[i].id.id = const_cast<char*>(acl[i].id.c_str());
  }
  return out;
}
}  // namespace

int ZkSession::GetAcl(const std::string& path, std::vector<AclEntry>* acl) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  ACL_vector v{};
  Stat st{};
  int rc = zoo_get_acl(zh, path.c_str(), &v, &st);
  if (rc != ZOK) return rc;
  acl->clear();
  for (int i = 0; i < v.count; ++i) {
    acl->push_back({v.data[i].id.scheme != nullptr ? v.data[i].id.scheme : "",
                    v.data[i].id.id != nullptr ? v.data[i].id.id : "", v.data[i].perms});
  }
  deallocate_ACL_vector(&v);
  return ZOK;
}

int ZkSession::SetAcl(const std::string& path, const std::vector<AclEntry>& acl, int version) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  std::vector<ACL> entries = ToZk(acl);
  ACL_vector v{static_cast<int32_t>(entries.size()), entries.data()};
  return zoo_set_acl(zh, path.c_str(), version, &v);
}

int ZkSession::CreateWithAcl(const std::string& path, const std::string& data,
                             const std::vector<AclEntry>& acl) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  std::vector<ACL> entries = ToZk(acl);
  ACL_vector v{static_cast<int32_t>(entries.size()), entries.data()};
  return zoo_create(zh, path.c_str(), data.data(), static_cast<int>(data.size()), &v, 0, nullptr,
                    0);
}

std::string DescribeAcl(const std::vector<AclEntry>& acl) {
  if (acl.empty()) return "(empty ACL)";
  std::string out;
  for (const auto& e : acl) {
    std::string id = e.id;
    if (e.scheme == "digest") id = id.substr(0, id.find(':'));  // never print the hash
    std::string perms;                                          // zkCli's order: c d r w a
    const std::pair<int, char> letters[] = {{ZOO_PERM_CREATE, 'c'},
                                            {ZOO_PERM_DELETE, 'd'},
                                            {ZOO_PERM_READ, 'r'},
                                            {ZOO_PERM_WRITE, 'w'},
                                            {ZOO_PERM_ADMIN, 'a'}};
    for (const auto& [bit, letter] : letters)
      if (e.perms & bit) perms += letter;
    if (perms.empty()) perms = "-";
    out += (out.empty() ? "" : ", ") + e.scheme + ":" + id + ":" + perms;
  }
  return out;
}

namespace {
// SHA-1 (FIPS 180-4), only for DigestId: the identity ZooKeeper's digest scheme derives.
std::array<std::uint8_t, 20> Sha1(const std::string& text) {
  std::uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::vector<std::uint8_t> m(text.begin(), text.end());
  const std::uint64_t bits = static_cast<std::uint64_t>(m.size()) * 8;
  m.push_back(0x80);
  while (m.size() % 64 != 56) m.push_back(0);
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
  auto rol = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (std::size_t off = 0; off < m.size(); off += 64) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i)
      w[i] = (std::uint32_t{m[off + 4 * i]} << 24) | (std::uint32_t{m[off + 4 * i + 1]} << 16) |
             (std::uint32_t{m[off + 4 * i + 2]} << 8) | std::uint32_t{m[off + 4 * i + 3]};
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      const std::uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<std::uint8_t, 20> out{};
  for (int i = 0; i < 20; ++i) out[i] = static_cast<std::uint8_t>(h[i / 4] >> (24 - 8 * (i % 4)));
  return out;
}

std::string Base64(const std::uint8_t* p, std::size_t n) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < n; i += 3) {
    std::uint32_t v = std::uint32_t{p[i]} << 16;
    if (i + 1 < n) v |= std::uint32_t{p[i + 1]} << 8;
    if (i + 2 < n) v |= p[i + 2];
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < n ? k[(v >> 6) & 63] : '=';
    out += i + 2 < n ? k[v & 63] : '=';
  }
  return out;
}
}  // namespace

std::string AclNote(ZkSession& session, const std::string& path) {
  std::string p = path;
  while (!p.empty()) {
    std::vector<AclEntry> acl;
    const int rc = session.GetAcl(p, &acl);
    if (rc == ZOK) return "the ACL of " + p + " is " + DescribeAcl(acl);
    if (rc != ZNONODE)
      return "the ACL of " + p + " cannot be read either (" + ZkErrorText(rc) + ")";
    const auto slash = p.rfind('/');
    if (slash == std::string::npos || p == "/") break;
    p = slash == 0 ? "/" : p.substr(0, slash);
  }
  return "no ACL found above " + path;
}

std::string NoAuthHint(bool with_auth) {
  return with_auth ? "these --zk-auth credentials are not in that ACL: pass the job's own "
                     "credentials, choose another --job, or ask the node's owner to restore its "
                     "ACL (docs/rendezvous.md, \"ACLs\")"
                   : "the node belongs to an identity with credentials: pass its --zk-auth "
                     "user:password, or choose another --job (docs/rendezvous.md, \"ACLs\")";
}

std::string DigestId(const std::string& auth) {
  const auto hash = Sha1(auth);
  return auth.substr(0, auth.find(':')) + ":" + Base64(hash.data(), hash.size());
}

int ZkSession::Get(const std::string& path, std::string* data, NodeStat* stat, bool watch) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    int len = static_cast<int>(buf.size());
    Stat s{};
    int rc = zoo_wget(zh, path.c_str(), watch ? &Impl::OnWatch : nullptr,
                      watch ? impl_.get() : nullptr, buf.data(), &len, &s);
    if (rc != ZOK) return rc;
    if (s.dataLength > static_cast<int>(buf.size())) {  // grew: read again with room
      buf.resize(static_cast<std::size_t>(s.dataLength) + 1);
      continue;
    }
    if (data != nullptr) data->assign(buf.data(), len > 0 ? static_cast<std::size_t>(len) : 0);
    FillStat(s, stat);
    return ZOK;
  }
}

int ZkSession::Exists(const std::string& path, NodeStat* stat, bool watch) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  Stat s{};
  int rc = zoo_wexists(zh, path.c_str(), watch ? &Impl::OnWatch : nullptr,
                       watch ? impl_.get() : nullptr, &s);
  if (rc == ZOK) FillStat(s, stat);
  return rc;
}

int ZkSession::Children(const std::string& path, std::vector<std::string>* children, bool watch) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  String_vector v{};
  Stat s{};
  int rc = zoo_wget_children2(zh, path.c_str(), watch ? &Impl::OnWatch : nullptr,
                              watch ? impl_.get() : nullptr, &v, &s);
  if (rc != ZOK) return rc;
  children->clear();
  for (int i = 0; i < v.count; ++i) children->emplace_back(v.data[i]);
  deallocate_String_vector(&v);
  return ZOK;
}

int ZkSession::Set(const std::string& path, const std::string& data, int version) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  return zoo_set(zh, path.c_str(), data.data(), static_cast<int>(data.size()), version);
}

int ZkSession::Delete(const std::string& path, int version) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  return zoo_delete(zh, path.c_str(), version);
}

int ZkSession::Multi(const std::vector<ZkOp>& ops, std::vector<int>* results) {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return ZINVALIDSTATE;
  std::vector<zoo_op_t> zops(ops.size());
  std::vector<zoo_op_result_t> zres(ops.size());
  std::vector<std::vector<char>> path_bufs(ops.size());
  std::vector<Stat> stats(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const ZkOp& op = ops[i];
    switch (op.kind) {
      case ZkOp::Kind::kCreate:
        path_bufs[i].resize(op.path.size() + 64);
        zoo_create_op_init(&zops[i], op.path.c_str(), op.data.data(),
                           static_cast<int>(op.data.size()),
                           impl_->secure ? &ZOO_CREATOR_ALL_ACL : &ZOO_OPEN_ACL_UNSAFE, 0,
                           path_bufs[i].data(), static_cast<int>(path_bufs[i].size()));
        break;
      case ZkOp::Kind::kSet:
        zoo_set_op_init(&zops[i], op.path.c_str(), op.data.data(), static_cast<int>(op.data.size()),
                        op.version, &stats[i]);
        break;
      case ZkOp::Kind::kDelete:
        zoo_delete_op_init(&zops[i], op.path.c_str(), op.version);
        break;
      case ZkOp::Kind::kCheck:
        zoo_check_op_init(&zops[i], op.path.c_str(), op.version);
        break;
    }
  }
  int rc = zoo_multi(zh, static_cast<int>(zops.size()), zops.data(), zres.data());
  if (results != nullptr) {
    results->clear();
    for (const auto& r : zres) results->push_back(r.err);
  }
  return rc;
}

bool ZkSession::WaitEvent(ZkEvent* event, Deadline deadline) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (!impl_->cv.wait_until(lock, deadline.at(), [&] { return !impl_->queue.empty(); })) {
    return false;
  }
  *event = std::move(impl_->queue.front());
  impl_->queue.pop_front();
  return true;
}

void ZkSession::Wake() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->queue.push_back(ZkEvent{});
  impl_->cv.notify_all();
}

std::int64_t ZkSession::session_id() const {
  zhandle_t* zh = impl_->handle();
  if (zh == nullptr) return 0;
  const clientid_t* id = zoo_client_id(zh);
  return id != nullptr ? id->client_id : 0;
}

std::chrono::milliseconds ZkSession::negotiated_timeout() const {
  zhandle_t* zh = impl_->handle();
  return std::chrono::milliseconds(zh != nullptr ? zoo_recv_timeout(zh) : 0);
}

ZkState ZkSession::state() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->state;
}
bool ZkSession::expired() const { return state() == ZkState::kExpired; }
bool ZkSession::secure() const { return impl_->secure; }
const std::string& ZkSession::hosts() const { return impl_->hosts; }
std::int64_t ZkSession::notifications() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->notifications;
}
void ZkSession::Close() {
  if (impl_) impl_->Close();
}

}  // namespace ringtrain::rendezvous
