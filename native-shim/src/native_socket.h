// NativeSocket: one non-blocking socket that moves whole datagrams between
// the kernel and an ArrayBuffer (the WebAssembly.Memory of a core) in
// batches, plus readiness through uv_poll. Syscalls and readiness only: no
// parsing, no policy (see native-shim/README.md).
#pragma once

#include <napi.h>
#include <uv.h>

#include <linux/filter.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace tcpcopy {

class NativeSocket : public Napi::ObjectWrap<NativeSocket> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeSocket(const Napi::CallbackInfo& info);
  ~NativeSocket() override;

 private:
  enum class Kind { Nfqueue, Packet, RawIpv4, LoopbackTest };

  // Largest vlen handed to one recvmmsg/sendmmsg call (UIO_MAXIOV).
  static constexpr unsigned kMaxVlen = 1024;

  bool OpenNfqueue(Napi::Env env, const Napi::Object& opts);
  bool OpenPacket(Napi::Env env, const Napi::Object& opts);
  bool ReadFilter(Napi::Env env, const Napi::Object& opts, std::vector<struct sock_filter>* out);
  bool OpenRawIpv4(Napi::Env env, const Napi::Object& opts);
  bool OpenLoopbackTest(Napi::Env env);
  bool SetupRing(Napi::Env env, const Napi::Value& ringv);
  uint32_t RecvRing(uint8_t* base, uint32_t desc_off, uint32_t data_off, uint32_t slot, uint32_t snap, uint32_t cap);
  bool SetBuffer(Napi::Env env, int force, int plain, const Napi::Object& opts, const char* key);
  void CloseFds();
  void StopPolling();  // stops the uv poll and drops the callback and the strong reference
  void StopUvPoll();   // stops the uv poll only
  void ReleaseAfterPollFailure();  // OnPoll cannot call JS any more: stop and drop both references
  static void OnPoll(uv_poll_t* handle, int status, int events);

  Napi::Value RecvBatch(const Napi::CallbackInfo& info);
  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value StartPoll(const Napi::CallbackInfo& info);
  Napi::Value StopPoll(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetKind(const Napi::CallbackInfo& info);
  Napi::Value GetIfindex(const Napi::CallbackInfo& info);
  Napi::Value GetArphrd(const Napi::CallbackInfo& info);
  Napi::Value GetCooked(const Napi::CallbackInfo& info);
  Napi::Value GetPortId(const Napi::CallbackInfo& info);
  Napi::Value GetRcvbuf(const Napi::CallbackInfo& info);
  Napi::Value GetRingSize(const Napi::CallbackInfo& info);

  Kind kind_ = Kind::LoopbackTest;
  int fd_ = -1;      // receives (and sends, except loopback-test)
  int txfd_ = -1;    // loopback-test only: the peer end that sends to fd_
  int ifindex_ = 0;  // packet: bound interface, 0 = all
  int arphrd_ = -1;  // packet on a named interface: ARPHRD_* of it
  bool cooked_ = false;  // packet: SOCK_DGRAM (no link-layer header)
  uint32_t portid_ = 0;  // nfqueue: netlink port id the kernel assigned

  // packet with option ring: the mmap'ed TPACKET_V3 receive ring (nullptr
  // = recvmmsg). ring_block_ is the next block to read; ring_pkt_/ring_off_
  // are how far into it a recvBatch that ran out of slots got.
  uint8_t* ring_ = nullptr;
  size_t ring_len_ = 0;
  uint32_t ring_block_size_ = 0;
  uint32_t ring_blocks_ = 0;
  uint32_t ring_block_ = 0;
  uint32_t ring_pkt_ = 0;
  uint32_t ring_off_ = 0;

  uint64_t received_ = 0;
  uint64_t sent_ = 0;
  uint64_t truncated_ = 0;
  uint64_t overruns_ = 0;
  uint64_t drops_ = 0;  // packet: the kernel's PACKET_STATISTICS tp_drops, summed

  // An error recvmmsg reported after some datagrams were already read; it
  // is thrown by the next recvBatch so it is neither lost nor reported late.
  int pending_errno_ = 0;

  uv_poll_t* poll_ = nullptr;
  bool strong_ = false;  // Ref() taken for polling (released by StopPolling)
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> async_;

  std::vector<struct mmsghdr> msgs_;
  std::vector<struct iovec> iovs_;
  std::vector<struct sockaddr_storage> names_;
  // packet without a ring: one PACKET_AUXDATA control buffer per message, for
  // the wire length (tp_len) of each datagram.
  std::vector<uint8_t> ctl_;
};

// Throws a JS Error carrying errno (positive), code ('EPERM') and syscall;
// `detail` (may be null) is added to the message and set as .detail.
void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* detail = nullptr);

// Throws the EPERM error for a capability missing from the effective set
// (capget itself succeeded): errno EPERM, syscall 'capget', detail = `cap`.
void ThrowMissingCap(Napi::Env env, const char* cap);

}  // namespace tcpcopy
