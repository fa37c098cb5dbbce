// See native_socket.h. Linux only.
#include "native_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace tcpcopy {

namespace {

// Largest classic BPF program the kernel takes (BPF_MAXINSNS).
constexpr uint32_t kMaxFilterInsns = 4096;
// Largest receive slot: bigger than any datagram a socket can return.
constexpr uint32_t kMaxSnap = 256 * 1024;
// ENOBUFS reports absorbed in one recvBatch before it returns what it has.
constexpr int kMaxOverrunsPerBatch = 64;
// Control buffer of one message on a packet socket: one PACKET_AUXDATA cmsg.
constexpr size_t kAuxSpace = CMSG_SPACE(sizeof(struct tpacket_auxdata));

inline void PutU32LE(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

inline uint32_t GetU32LE(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// Reads info[i] as an unsigned 32-bit integer; throws a RangeError naming
// `what` when it is not a non-negative integer below 2^32.
bool ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what, uint32_t* out) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    Napi::TypeError::New(env, std::string(what) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 4294967295.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
    Napi::RangeError::New(env, std::string(what) + " must be an integer 0..2^32-1").ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsArrayBuffer()) {
    Napi::TypeError::New(env, "the first argument must be an ArrayBuffer (memory.buffer; a shared memory's SharedArrayBuffer is not accepted)")
        .ThrowAsJavaScriptException();
    return false;
  }
  // Raw N-API: node-addon-api's Data() leaves a pending exception and
  // returns null when the call fails, which must never reach a memcpy.
  void* p = nullptr;
  size_t n = 0;
  if (napi_get_arraybuffer_info(env, info[i], &p, &n) != napi_ok) {
    Napi::TypeError::New(env, "the first argument must be an ArrayBuffer (memory.buffer)").ThrowAsJavaScriptException();
    return false;
  }
  *data = static_cast<uint8_t*>(p);
  *len = n;
  if (*data == nullptr || *len == 0) {
    Napi::TypeError::New(env, "the ArrayBuffer is detached or empty (did the memory grow?)").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// Optional numeric option; 0 when absent. Throws on a bad value.
bool OptU32(Napi::Env env, const Napi::Object& opts, const char* key, uint32_t* out) {
  *out = 0;
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsNumber()) {
    Napi::TypeError::New(env, std::string("option ") + key + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 2147483647.0) {
    Napi::RangeError::New(env, std::string("option ") + key + " must be 0..2^31-1").ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

// True when the calling thread has capability `cap` in its effective set.
bool HasEffectiveCap(int cap) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return true;  // cannot tell: let the kernel decide
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

}  // namespace

void ThrowMissingCap(Napi::Env env, const char* cap) {
  std::string msg = std::string(cap) + " is not in the effective capability set of this process";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, EPERM));
  e.Set("code", Napi::String::New(env, "EPERM"));
  e.Set("syscall", Napi::String::New(env, "capget"));
  e.Set("detail", Napi::String::New(env, cap));
  e.ThrowAsJavaScriptException();
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* detail) {
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "E" + std::to_string(err);
  std::string msg = std::string(syscall) + " failed: " + code + " (" + strerror(err) + ")";
  if (detail != nullptr) msg += std::string(" [") + detail + "]";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, code));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (detail != nullptr) e.Set("detail", Napi::String::New(env, detail));
  e.ThrowAsJavaScriptException();
}

Napi::Function NativeSocket::Define(Napi::Env env) {
  return DefineClass(env, "NativeSocket", {
    InstanceMethod<&NativeSocket::RecvBatch>("recvBatch"),
    InstanceMethod<&NativeSocket::SendBatch>("sendBatch"),
    InstanceMethod<&NativeSocket::StartPoll>("startPoll"),
    InstanceMethod<&NativeSocket::StopPoll>("stopPoll"),
    InstanceMethod<&NativeSocket::Close>("close"),
    InstanceMethod<&NativeSocket::Stats>("stats"),
    InstanceAccessor<&NativeSocket::GetFd>("fd"),
    InstanceAccessor<&NativeSocket::GetClosed>("closed"),
    InstanceAccessor<&NativeSocket::GetKind>("kind"),
    InstanceAccessor<&NativeSocket::GetIfindex>("ifindex"),
    InstanceAccessor<&NativeSocket::GetArphrd>("arphrd"),
    InstanceAccessor<&NativeSocket::GetCooked>("cooked"),
    InstanceAccessor<&NativeSocket::GetPortId>("portId"),
    InstanceAccessor<&NativeSocket::GetRcvbuf>("rcvbuf"),
    InstanceAccessor<&NativeSocket::GetRingSize>("ringSize"),
  });
}

// new NativeSocket(kind, options)
//   kind: 'nfqueue' | 'packet' | 'raw-ipv4' | 'loopback-test'
//   options: { rcvbuf?, sndbuf?, interface?, filter?, ignoreOutgoing?,
//              ring?: { blockSize, blockCount, frameSize, retireMs? } }
NativeSocket::NativeSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeSocket>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "kind must be 'nfqueue', 'packet', 'raw-ipv4' or 'loopback-test'").ThrowAsJavaScriptException();
    return;
  }
  Napi::Object opts = info.Length() >= 2 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  std::string kind = info[0].As<Napi::String>().Utf8Value();
  bool ok;
  if (kind == "nfqueue") {
    kind_ = Kind::Nfqueue;
    ok = OpenNfqueue(env, opts);
  } else if (kind == "packet") {
    kind_ = Kind::Packet;
    ok = OpenPacket(env, opts);
  } else if (kind == "raw-ipv4") {
    kind_ = Kind::RawIpv4;
    ok = OpenRawIpv4(env, opts);
  } else if (kind == "loopback-test") {
    kind_ = Kind::LoopbackTest;
    ok = OpenLoopbackTest(env);
  } else {
    Napi::TypeError::New(env, "kind must be 'nfqueue', 'packet', 'raw-ipv4' or 'loopback-test', got '" + kind + "'").ThrowAsJavaScriptException();
    return;
  }
  if (!ok) {
    CloseFds();
    return;
  }
  msgs_.resize(kMaxVlen);
  iovs_.resize(kMaxVlen);
  if (kind_ != Kind::LoopbackTest) names_.resize(kMaxVlen);
}

NativeSocket::~NativeSocket() {
  // Normally polling has stopped (a polling socket holds a strong reference
  // to itself); at environment teardown it may not have. Release the uv
  // handle without touching the JS references of a dying environment.
  StopUvPoll();
  CloseFds();
}

// Sets SO_xxxBUFFORCE (needs CAP_NET_ADMIN, ignores the rmem/wmem_max caps)
// or, when that is refused, the capped SO_xxxBUF. Absent or 0: kernel default.
bool NativeSocket::SetBuffer(Napi::Env env, int force, int plain, const Napi::Object& opts, const char* key) {
  uint32_t size;
  if (!OptU32(env, opts, key, &size)) return false;
  if (size == 0) return true;
  int v = static_cast<int>(size);
  if (setsockopt(fd_, SOL_SOCKET, force, &v, sizeof v) == 0) return true;
  if (setsockopt(fd_, SOL_SOCKET, plain, &v, sizeof v) == 0) return true;
  ThrowErrno(env, errno, "setsockopt", force == SO_RCVBUFFORCE ? "SO_RCVBUF" : "SO_SNDBUF");
  return false;
}

bool NativeSocket::OpenNfqueue(Napi::Env env, const Napi::Object& opts) {
  // Any user may open a NETLINK_NETFILTER socket; the queue commands then
  // fail in the kernel's ACK. Say so at open time instead.
  if (!HasEffectiveCap(CAP_NET_ADMIN)) {
    ThrowMissingCap(env, "CAP_NET_ADMIN");
    return false;
  }
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd_ < 0) {
    ThrowErrno(env, errno, "socket", "AF_NETLINK, NETLINK_NETFILTER");
    return false;
  }
  struct sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  sa.nl_pid = 0;  // the kernel assigns the port id
  if (bind(fd_, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) != 0) {
    ThrowErrno(env, errno, "bind", "AF_NETLINK");
    return false;
  }
  socklen_t len = sizeof sa;
  if (getsockname(fd_, reinterpret_cast<struct sockaddr*>(&sa), &len) != 0) {
    ThrowErrno(env, errno, "getsockname", "AF_NETLINK");
    return false;
  }
  portid_ = sa.nl_pid;
  // Keep ENOBUFS reports on (the default): each one is a counted overrun.
  int off = 0;
  setsockopt(fd_, SOL_NETLINK, NETLINK_NO_ENOBUFS, &off, sizeof off);
  return SetBuffer(env, SO_RCVBUFFORCE, SO_RCVBUF, opts, "rcvbuf");
}

// Reads option `filter` (a Uint8Array or ArrayBuffer of 8-byte struct
// sock_filter entries, host order) into aligned storage; empty when absent.
// Runs before any socket exists, so bad input needs no privilege to be told.
bool NativeSocket::ReadFilter(Napi::Env env, const Napi::Object& opts, std::vector<struct sock_filter>* out) {
  out->clear();
  Napi::Value fv = opts.Get("filter");
  if (fv.IsUndefined() || fv.IsNull()) return true;
  const uint8_t* bytes = nullptr;
  size_t n = 0;
  napi_value backing = nullptr;
  if (fv.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    size_t offset = 0;
    if (napi_get_typedarray_info(env, fv, &type, &length, &data, &backing, &offset) != napi_ok) {
      Napi::TypeError::New(env, "option filter: cannot read the typed array").ThrowAsJavaScriptException();
      return false;
    }
    bytes = static_cast<const uint8_t*>(data);
    n = Napi::TypedArray(env, fv).ByteLength();
  } else if (fv.IsArrayBuffer()) {
    backing = fv;
  } else {
    Napi::TypeError::New(env, "option filter must be a Uint8Array of 8-byte sock_filter structs").ThrowAsJavaScriptException();
    return false;
  }
  // A SharedArrayBuffer is not an ArrayBuffer to N-API (its data cannot be
  // read through napi_get_arraybuffer_info): refuse it instead of reading null.
  bool is_ab = false;
  if (backing == nullptr || napi_is_arraybuffer(env, backing, &is_ab) != napi_ok || !is_ab) {
    Napi::TypeError::New(env, "option filter must be backed by an ArrayBuffer, not a SharedArrayBuffer (copy it first)")
        .ThrowAsJavaScriptException();
    return false;
  }
  if (fv.IsArrayBuffer()) {
    void* data = nullptr;
    if (napi_get_arraybuffer_info(env, backing, &data, &n) != napi_ok) {
      Napi::TypeError::New(env, "option filter: cannot read the ArrayBuffer").ThrowAsJavaScriptException();
      return false;
    }
    bytes = static_cast<const uint8_t*>(data);
  }
  if (n == 0 || n % sizeof(struct sock_filter) != 0 || n / sizeof(struct sock_filter) > kMaxFilterInsns) {
    Napi::RangeError::New(env, "option filter must hold 1..4096 8-byte sock_filter structs, got " +
                                   std::to_string(n) + " bytes").ThrowAsJavaScriptException();
    return false;
  }
  if (bytes == nullptr) {
    Napi::TypeError::New(env, "option filter: its buffer is detached").ThrowAsJavaScriptException();
    return false;
  }
  out->resize(n / sizeof(struct sock_filter));
  memcpy(out->data(), bytes, n);
  return true;
}

bool NativeSocket::OpenPacket(Napi::Env env, const Napi::Object& opts) {
  std::string ifname;
  Napi::Value ifv = opts.Get("interface");
  if (ifv.IsString()) ifname = ifv.As<Napi::String>().Utf8Value();
  else if (!ifv.IsUndefined() && !ifv.IsNull()) {
    Napi::TypeError::New(env, "option interface must be a string").ThrowAsJavaScriptException();
    return false;
  }
  cooked_ = ifname.empty();

  // What needs no privilege comes first: the filter and the interface name
  // are checked before socket(AF_PACKET), which needs CAP_NET_RAW.
  std::vector<struct sock_filter> insns;
  if (!ReadFilter(env, opts, &insns)) return false;
  if (!cooked_) {
    if (ifname.size() >= IFNAMSIZ) {
      ThrowErrno(env, ENODEV, "if_nametoindex", ifname.c_str());
      return false;
    }
    errno = 0;
    unsigned idx = if_nametoindex(ifname.c_str());
    if (idx == 0) {
      ThrowErrno(env, errno == 0 ? ENODEV : errno, "if_nametoindex", ifname.c_str());
      return false;
    }
    ifindex_ = static_cast<int>(idx);
  }

  // Protocol 0: the socket receives nothing until bind() names a protocol,
  // so the filter is in place before the first packet can be queued (no
  // drop-all filter and no drain are needed).
  fd_ = socket(AF_PACKET, (cooked_ ? SOCK_DGRAM : SOCK_RAW) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    ThrowErrno(env, errno, "socket", "AF_PACKET");
    return false;
  }

  if (!cooked_) {
    struct ifreq ifr = {};
    memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
    if (ioctl(fd_, SIOCGIFHWADDR, &ifr) != 0) {
      ThrowErrno(env, errno, "ioctl", "SIOCGIFHWADDR");
      return false;
    }
    arphrd_ = ifr.ifr_hwaddr.sa_family;
  }

  if (!insns.empty()) {
    struct sock_fprog prog = {static_cast<unsigned short>(insns.size()), insns.data()};
    if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
      ThrowErrno(env, errno, "setsockopt", "SO_ATTACH_FILTER");
      return false;
    }
  }

  Napi::Value io = opts.Get("ignoreOutgoing");
  if (io.IsBoolean() && io.As<Napi::Boolean>().Value()) {
    int one = 1;
    if (setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) {
      ThrowErrno(env, errno, "setsockopt", "PACKET_IGNORE_OUTGOING");
      return false;
    }
  }

  if (!SetBuffer(env, SO_RCVBUFFORCE, SO_RCVBUF, opts, "rcvbuf")) return false;

  // The ring is set up before bind(): no packet is queued before it exists.
  Napi::Value ringv = opts.Get("ring");
  if (!ringv.IsUndefined() && !ringv.IsNull()) {
    if (!SetupRing(env, ringv)) return false;
  } else {
    // recvmmsg: the kernel cuts a packet to what the filter returns before
    // queueing it, so MSG_TRUNC alone misses truncation. PACKET_AUXDATA
    // brings the wire length (tp_len) of every datagram.
    int one = 1;
    if (setsockopt(fd_, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) != 0) {
      ThrowErrno(env, errno, "setsockopt", "PACKET_AUXDATA");
      return false;
    }
    ctl_.assign(kMaxVlen * kAuxSpace, 0);
  }

  struct sockaddr_ll sll = {};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex_;
  if (bind(fd_, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) != 0) {
    ThrowErrno(env, errno, "bind", cooked_ ? "AF_PACKET, all interfaces" : ifname.c_str());
    return false;
  }
  return true;
}

// ring: { blockSize, blockCount, frameSize, retireMs? } -> a TPACKET_V3
// PACKET_RX_RING, mmap'ed. The kernel checks the geometry (EINVAL).
bool NativeSocket::SetupRing(Napi::Env env, const Napi::Value& ringv) {
  if (!ringv.IsObject()) {
    Napi::TypeError::New(env, "option ring must be an object { blockSize, blockCount, frameSize }").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object r = ringv.As<Napi::Object>();
  uint32_t block_size, block_count, frame_size, retire_ms;
  if (!OptU32(env, r, "blockSize", &block_size) || !OptU32(env, r, "blockCount", &block_count) ||
      !OptU32(env, r, "frameSize", &frame_size) || !OptU32(env, r, "retireMs", &retire_ms)) {
    return false;
  }
  if (block_size == 0 || block_count == 0 || frame_size == 0 || frame_size > block_size) {
    Napi::RangeError::New(env, "option ring needs blockSize, blockCount and frameSize > 0, frameSize <= blockSize")
        .ThrowAsJavaScriptException();
    return false;
  }
  int v = TPACKET_V3;
  if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &v, sizeof v) != 0) {
    ThrowErrno(env, errno, "setsockopt", "PACKET_VERSION TPACKET_V3");
    return false;
  }
  struct tpacket_req3 req = {};
  req.tp_block_size = block_size;
  req.tp_block_nr = block_count;
  req.tp_frame_size = frame_size;
  req.tp_frame_nr = (block_size / frame_size) * block_count;
  req.tp_retire_blk_tov = retire_ms == 0 ? 10 : retire_ms;  // ms before a partly filled block is handed over
  if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
    ThrowErrno(env, errno, "setsockopt", "PACKET_RX_RING");
    return false;
  }
  size_t len = static_cast<size_t>(block_size) * block_count;
  void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd_, 0);
  if (m == MAP_FAILED) m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);  // RLIMIT_MEMLOCK
  if (m == MAP_FAILED) {
    ThrowErrno(env, errno, "mmap", "PACKET_RX_RING");
    return false;
  }
  ring_ = static_cast<uint8_t*>(m);
  ring_len_ = len;
  ring_block_size_ = block_size;
  ring_blocks_ = block_count;
  ring_block_ = ring_pkt_ = ring_off_ = 0;
  return true;
}

// Copies up to `cap` frames from the ready blocks of the ring into the
// slots, as recvmmsg would have; a block goes back to the kernel once all
// its frames are copied. Returns how many were copied.
uint32_t NativeSocket::RecvRing(uint8_t* base, uint32_t desc_off, uint32_t data_off, uint32_t slot, uint32_t snap,
                                uint32_t cap) {
  uint32_t n = 0;
  while (n < cap) {
    auto* bd = reinterpret_cast<struct tpacket_block_desc*>(ring_ + static_cast<size_t>(ring_block_) * ring_block_size_);
    if ((__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
    const uint32_t num = bd->hdr.bh1.num_pkts;
    if (ring_pkt_ == 0) ring_off_ = bd->hdr.bh1.offset_to_first_pkt;
    while (ring_pkt_ < num && n < cap) {
      auto* h = reinterpret_cast<const struct tpacket3_hdr*>(reinterpret_cast<const uint8_t*>(bd) + ring_off_);
      uint32_t len = std::min<uint32_t>(h->tp_snaplen, snap);
      if (len < h->tp_len) truncated_++;
      uint32_t off = data_off + n * slot;
      memcpy(base + off, reinterpret_cast<const uint8_t*>(h) + h->tp_mac, len);
      uint8_t* d = base + desc_off + static_cast<size_t>(n) * 8;
      PutU32LE(d, off);
      PutU32LE(d + 4, len);
      n++;
      ring_pkt_++;
      ring_off_ += h->tp_next_offset;
    }
    if (ring_pkt_ < num) break;  // out of slots: the rest of this block next time
    __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    ring_pkt_ = ring_off_ = 0;
    ring_block_ = (ring_block_ + 1) % ring_blocks_;
  }
  received_ += n;
  return n;
}

bool NativeSocket::OpenRawIpv4(Napi::Env env, const Napi::Object& opts) {
  // IPPROTO_RAW implies IP_HDRINCL: the packets carry their own IPv4 header.
  fd_ = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd_ < 0) {
    ThrowErrno(env, errno, "socket", "AF_INET, SOCK_RAW, IPPROTO_RAW");
    return false;
  }
  return SetBuffer(env, SO_SNDBUFFORCE, SO_SNDBUF, opts, "sndbuf");
}

bool NativeSocket::OpenLoopbackTest(Napi::Env env) {
  // Test only: datagrams sent with sendBatch come back through recvBatch.
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    ThrowErrno(env, errno, "socketpair");
    return false;
  }
  fd_ = sv[0];
  txfd_ = sv[1];
  return true;
}

void NativeSocket::CloseFds() {
  if (ring_ != nullptr) munmap(ring_, ring_len_);
  ring_ = nullptr;
  ring_len_ = 0;
  if (fd_ >= 0) close(fd_);
  if (txfd_ >= 0) close(txfd_);
  fd_ = -1;
  txfd_ = -1;
}

// recvBatch(buffer, descOff, dataOff, dataSize, snap, max, descCount?) -> n
// descCount: how many descriptors the area at descOff holds (absent: max).
Napi::Value NativeSocket::RecvBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* base;
  size_t size;
  uint32_t desc_off, data_off, data_size, snap, max, desc_count;
  if (!ArgBuffer(info, 0, &base, &size) || !ArgU32(info, 1, "descOff", &desc_off) ||
      !ArgU32(info, 2, "dataOff", &data_off) || !ArgU32(info, 3, "dataSize", &data_size) ||
      !ArgU32(info, 4, "snap", &snap) || !ArgU32(info, 5, "max", &max)) {
    return env.Undefined();
  }
  if (info.Length() > 6 && !info[6].IsUndefined()) {
    if (!ArgU32(info, 6, "descCount", &desc_count)) return env.Undefined();
  } else {
    desc_count = max;
  }
  if (fd_ < 0) {
    ThrowErrno(env, EBADF, "recvmmsg", "the socket is closed");
    return env.Undefined();
  }
  if (snap == 0 || snap > kMaxSnap || data_off % 8 != 0) {
    Napi::RangeError::New(env, "snap must be 1..262144 and dataOff 8-byte aligned").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // At most as many datagrams as there are descriptors and slots.
  const uint32_t slot = (snap + 7) & ~7u;
  const uint32_t cap = std::min<uint32_t>(std::min(max, desc_count), data_size / slot);
  const uint64_t desc_end = static_cast<uint64_t>(desc_off) + static_cast<uint64_t>(cap) * 8;
  if (static_cast<uint64_t>(data_off) + data_size > size || desc_end > size) {
    Napi::RangeError::New(env, "receive regions lie outside the buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (cap > 0 && desc_off < static_cast<uint64_t>(data_off) + static_cast<uint64_t>(cap) * slot && data_off < desc_end) {
    Napi::RangeError::New(env, "the receive descriptors overlap the receive data region").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (pending_errno_ != 0) {
    int e = pending_errno_;
    pending_errno_ = 0;
    ThrowErrno(env, e, "recvmmsg");
    return env.Undefined();
  }
  if (kind_ == Kind::RawIpv4) return Napi::Number::New(env, 0);  // IPPROTO_RAW never receives

  if (ring_ != nullptr) {
    uint32_t got = RecvRing(base, desc_off, data_off, slot, snap, cap);
    if (got == 0 && cap > 0) {
      // Nothing in the ring: collect a pending socket error (ENETDOWN...),
      // which recvmmsg would have returned, so a POLLERR does not spin.
      int err = 0;
      socklen_t elen = sizeof err;
      if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err != 0) {
        ThrowErrno(env, err, "recvmmsg", "PACKET_RX_RING");
        return env.Undefined();
      }
    }
    return Napi::Number::New(env, got);
  }
  uint32_t n = 0;
  int overruns = 0;
  const bool aux = !ctl_.empty();
  while (n < cap) {
    const unsigned batch = std::min<uint32_t>(cap - n, kMaxVlen);
    for (unsigned i = 0; i < batch; i++) {
      iovs_[i].iov_base = base + data_off + static_cast<size_t>(n + i) * slot;
      iovs_[i].iov_len = snap;
      struct msghdr& h = msgs_[i].msg_hdr;
      h = {};
      h.msg_iov = &iovs_[i];
      h.msg_iovlen = 1;
      if (aux) {
        h.msg_control = ctl_.data() + static_cast<size_t>(i) * kAuxSpace;
        h.msg_controllen = kAuxSpace;
      }
      msgs_[i].msg_len = 0;
    }
    int r = recvmmsg(fd_, msgs_.data(), batch, MSG_DONTWAIT, nullptr);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (e == ENOBUFS) {  // the kernel dropped messages: count, read on
        overruns_++;
        if (++overruns >= kMaxOverrunsPerBatch) break;
        continue;
      }
      if (n > 0) {
        pending_errno_ = e;
        break;
      }
      ThrowErrno(env, e, "recvmmsg");
      return env.Undefined();
    }
    for (int i = 0; i < r; i++) {
      uint32_t len = std::min<uint32_t>(msgs_[i].msg_len, snap);
      bool cut = (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      if (aux && !cut) {
        // The filter's return value may have cut the packet in the kernel
        // already: compare with its length on the wire.
        struct msghdr& h = msgs_[i].msg_hdr;
        for (struct cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
          if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
          struct tpacket_auxdata a;
          memcpy(&a, CMSG_DATA(c), sizeof a);
          cut = len < a.tp_len;
          break;
        }
      }
      if (cut) truncated_++;
      uint8_t* d = base + desc_off + static_cast<size_t>(n + i) * 8;
      PutU32LE(d, data_off + (n + i) * slot);
      PutU32LE(d + 4, len);
    }
    n += static_cast<uint32_t>(r);
    received_ += static_cast<uint64_t>(r);
    if (static_cast<unsigned>(r) < batch) break;
  }
  return Napi::Number::New(env, n);
}

// sendBatch(buffer, txDescOff, n) -> sent
// Descriptor (16 bytes, little-endian): [offset u32][length u32]
// [IPv4 destination: 4 bytes in network order][reserved u32].
Napi::Value NativeSocket::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* base;
  size_t size;
  uint32_t desc_off, count;
  if (!ArgBuffer(info, 0, &base, &size) || !ArgU32(info, 1, "txDescOff", &desc_off) ||
      !ArgU32(info, 2, "n", &count)) {
    return env.Undefined();
  }
  if (fd_ < 0) {
    ThrowErrno(env, EBADF, "sendmmsg", "the socket is closed");
    return env.Undefined();
  }
  if (static_cast<uint64_t>(desc_off) + static_cast<uint64_t>(count) * 16 > size) {
    Napi::RangeError::New(env, "transmit descriptors lie outside the buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Check every descriptor first, so a bad one fails the call before anything is sent.
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* d = base + desc_off + static_cast<size_t>(i) * 16;
    if (static_cast<uint64_t>(GetU32LE(d)) + GetU32LE(d + 4) > size) {
      Napi::RangeError::New(env, "transmit descriptor " + std::to_string(i) + " points outside the buffer")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  const int txfd = kind_ == Kind::LoopbackTest ? txfd_ : fd_;
  uint32_t sent = 0;
  while (sent < count) {
    const unsigned batch = std::min<uint32_t>(count - sent, kMaxVlen);
    for (unsigned i = 0; i < batch; i++) {
      const uint8_t* d = base + desc_off + static_cast<size_t>(sent + i) * 16;
      uint32_t off = GetU32LE(d);
      uint32_t len = GetU32LE(d + 4);
      iovs_[i].iov_base = base + off;
      iovs_[i].iov_len = len;
      struct msghdr& h = msgs_[i].msg_hdr;
      h = {};
      h.msg_iov = &iovs_[i];
      h.msg_iovlen = 1;
      msgs_[i].msg_len = 0;
      switch (kind_) {
        case Kind::Nfqueue: {
          auto* sa = reinterpret_cast<struct sockaddr_nl*>(&names_[i]);
          *sa = {};
          sa->nl_family = AF_NETLINK;  // nl_pid 0: the kernel
          h.msg_name = sa;
          h.msg_namelen = sizeof *sa;
          break;
        }
        case Kind::RawIpv4: {
          auto* sa = reinterpret_cast<struct sockaddr_in*>(&names_[i]);
          *sa = {};
          sa->sin_family = AF_INET;
          memcpy(&sa->sin_addr.s_addr, d + 8, 4);
          h.msg_name = sa;
          h.msg_namelen = sizeof *sa;
          break;
        }
        case Kind::Packet:
          // No address: the bound interface, and the kernel reads the
          // protocol from the frame's own link-layer header. (A socket on
          // all interfaces cannot send: the kernel answers ENXIO.)
        case Kind::LoopbackTest:
          break;  // connected pair: no address
      }
    }
    int r = sendmmsg(txfd, msgs_.data(), batch, MSG_DONTWAIT);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) break;  // full: the caller retries later
      if (sent > 0) break;  // the failing datagram is retried (and reported) by the next call
      ThrowErrno(env, e, "sendmmsg");
      return env.Undefined();
    }
    sent += static_cast<uint32_t>(r);
    if (static_cast<unsigned>(r) < batch) break;
  }
  sent_ += sent;
  return Napi::Number::New(env, sent);
}

// startPoll(callback): calls callback() on the loop thread whenever the
// socket is readable (level-triggered), until stopPoll() or close().
Napi::Value NativeSocket::StartPoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "startPoll needs a callback function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (fd_ < 0) {
    ThrowErrno(env, EBADF, "uv_poll_start", "the socket is closed");
    return env.Undefined();
  }
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (poll_ != nullptr) return env.Undefined();  // already polling: callback replaced
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "napi_get_uv_event_loop failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!async_) async_ = std::make_unique<Napi::AsyncContext>(env, "tcpcopy:NativeSocket");
  auto* handle = new uv_poll_t;
  int rc = uv_poll_init(loop, handle, fd_);
  if (rc != 0) {
    delete handle;
    if (!strong_) callback_.Reset();
    ThrowErrno(env, -rc, "uv_poll_init");
    return env.Undefined();
  }
  handle->data = this;
  rc = uv_poll_start(handle, UV_READABLE, OnPoll);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    if (!strong_) callback_.Reset();
    ThrowErrno(env, -rc, "uv_poll_start");
    return env.Undefined();
  }
  poll_ = handle;
  if (!strong_) {
    strong_ = true;
    Ref();  // a polling socket stays alive without a JS reference
  }
  return env.Undefined();
}

void NativeSocket::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  // On an error status (POLLERR: ENOBUFS on netlink, ENETDOWN on a packet
  // socket) libuv has already stopped the watcher. The callback still runs
  // (its recvBatch reports the error) and the watcher is armed again below,
  // or the socket would never be read again.
  // Raw N-API calls here: node-addon-api's wrappers abort the process when a
  // call fails, and calls do fail once the environment cannot run JS any
  // more (a worker being terminated).
  auto* self = static_cast<NativeSocket*>(handle->data);
  if (self == nullptr || self->callback_.IsEmpty() || !self->async_) return;
  napi_env env = self->Env();
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    self->ReleaseAfterPollFailure();
    return;
  }
  napi_value fn = nullptr;
  napi_value recv = nullptr;
  napi_value result = nullptr;
  napi_status st = napi_get_reference_value(env, self->callback_, &fn);
  if (st == napi_ok && fn == nullptr) st = napi_generic_failure;
  if (st == napi_ok) st = napi_get_global(env, &recv);
  if (st == napi_ok) st = napi_make_callback(env, *self->async_, recv, fn, 0, nullptr, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);  // -> 'uncaughtException'
  } else if (st != napi_ok) {
    self->ReleaseAfterPollFailure();  // JS cannot run here any more: stop calling it
  }
  napi_close_handle_scope(env, scope);
  // The callback may have closed the socket or stopped polling: re-arm only
  // the same, still open watcher.
  if (status < 0 && self->poll_ == handle && self->fd_ >= 0) uv_poll_start(handle, UV_READABLE, OnPoll);
}

void NativeSocket::StopUvPoll() {
  if (poll_ == nullptr) return;
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll_ = nullptr;
}

// The poll stops for good, as stopPoll() would, without node-addon-api's
// wrappers (they throw, or abort, when the environment cannot run JS). The
// self-reference goes back to weak and the callback reference too, so
// neither pins the object any more; close() still closes the fd, once.
void NativeSocket::ReleaseAfterPollFailure() {
  StopUvPoll();
  napi_env env = Env();
  uint32_t count = 0;
  if (!callback_.IsEmpty()) {
    napi_ref cb = callback_;
    if (napi_reference_unref(env, cb, &count) != napi_ok) count = 0;
  }
  if (strong_) {
    strong_ = false;
    napi_reference_unref(env, _ref, &count);
  }
}

void NativeSocket::StopPolling() {
  StopUvPoll();
  if (strong_) {
    strong_ = false;
    callback_.Reset();
    Unref();
  }
}

Napi::Value NativeSocket::StopPoll(const Napi::CallbackInfo& info) {
  StopPolling();
  return info.Env().Undefined();
}

Napi::Value NativeSocket::Close(const Napi::CallbackInfo& info) {
  StopPolling();
  CloseFds();
  return info.Env().Undefined();
}

// stats() -> { received, sent, truncated, overruns, drops }. For a packet
// socket the kernel's drop count (PACKET_STATISTICS, reset on read) is added
// to drops, and to overruns (one per dropped packet: the kernel reports them
// only as a count). nfqueue: overruns counts ENOBUFS reports (one per
// report, however many datagrams it lost), drops stays 0.
Napi::Value NativeSocket::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (kind_ == Kind::Packet && fd_ >= 0) {
    union {
      struct tpacket_stats v2;
      struct tpacket_stats_v3 v3;
    } st = {};
    socklen_t len = ring_ != nullptr ? sizeof st.v3 : sizeof st.v2;
    if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      overruns_ += st.v2.tp_drops;
      drops_ += st.v2.tp_drops;
    }
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("received", Napi::Number::New(env, static_cast<double>(received_)));
  o.Set("sent", Napi::Number::New(env, static_cast<double>(sent_)));
  o.Set("truncated", Napi::Number::New(env, static_cast<double>(truncated_)));
  o.Set("overruns", Napi::Number::New(env, static_cast<double>(overruns_)));
  o.Set("drops", Napi::Number::New(env, static_cast<double>(drops_)));
  return o;
}

Napi::Value NativeSocket::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value NativeSocket::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }
Napi::Value NativeSocket::GetIfindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }
Napi::Value NativeSocket::GetArphrd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), arphrd_); }
Napi::Value NativeSocket::GetCooked(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cooked_); }
Napi::Value NativeSocket::GetPortId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), portid_); }

// The receive buffer the kernel granted (getsockopt SO_RCVBUF: twice the
// requested size, or less when SO_RCVBUF was capped by net.core.rmem_max).
Napi::Value NativeSocket::GetRcvbuf(const Napi::CallbackInfo& info) {
  int v = 0;
  socklen_t len = sizeof v;
  if (fd_ < 0 || getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &v, &len) != 0) v = 0;
  return Napi::Number::New(info.Env(), v);
}

// packet: bytes of the mmap'ed receive ring; 0 = none (recvmmsg).
Napi::Value NativeSocket::GetRingSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(ring_len_));
}

Napi::Value NativeSocket::GetKind(const Napi::CallbackInfo& info) {
  const char* k = "loopback-test";
  switch (kind_) {
    case Kind::Nfqueue: k = "nfqueue"; break;
    case Kind::Packet: k = "packet"; break;
    case Kind::RawIpv4: k = "raw-ipv4"; break;
    case Kind::LoopbackTest: break;
  }
  return Napi::String::New(info.Env(), k);
}

}  // namespace tcpcopy
