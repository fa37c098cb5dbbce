// Netlink and nfnetlink_queue constants (kernel ABI: linux/netlink.h,
// linux/netfilter/nfnetlink.h, linux/netfilter/nfnetlink_queue.h; see
// INTERCEPT.md §4.2 and §11), and the enums of the core's NFQUEUE API
// (wasm/assembly/nfq.ts). Shared by the AssemblyScript core and the
// TypeScript side: keep to `export enum` and untyped `export const`.
//
// Byte order: struct nlmsghdr and struct nlattr are host order (little-endian
// on every target WebAssembly runs on); everything after the nfgenmsg family
// and version bytes that nfnetlink_queue defines is big-endian.

/** sizeof(struct nlmsghdr): {u32 len, u16 type, u16 flags, u32 seq, u32 pid}. */
export const NLMSG_HDRLEN = 16
/** sizeof(struct nfgenmsg): {u8 family, u8 version, be16 res_id}. */
export const NFGENMSG_LEN = 4
/** sizeof(struct nlattr): {u16 len, u16 type}. */
export const NLA_HDRLEN = 4
/** nla_type bits that are flags, not the type (NLA_F_NESTED | NLA_F_NET_BYTEORDER). */
export const NLA_TYPE_MASK = 0x3fff

/** Control message types (below NLMSG_MIN_TYPE = 0x10). */
export enum NlMsgType {
  Noop = 1,
  /** struct nlmsgerr {i32 error; struct nlmsghdr msg; ...}: error 0 is an ack. */
  Error = 2,
  Done = 3,
  Overrun = 4,
}

/** nlmsg_flags bits used here. */
export enum NlmFlag {
  Request = 1,
  Multi = 2,
  Ack = 4,
  Echo = 8,
}

export const NFNL_SUBSYS_QUEUE = 3
export const NFNETLINK_V0 = 0
export const AF_UNSPEC = 0
export const AF_INET = 2
export const NF_DROP = 0
export const NF_ACCEPT = 1

/** nfnetlink_queue message types; the nlmsg_type is (NFNL_SUBSYS_QUEUE << 8) | type. */
export enum NfqMsgType {
  Packet = 0,
  Verdict = 1,
  Config = 2,
  VerdictBatch = 3,
}

/** nlmsg_type values of the queue subsystem. */
export const NFQ_TYPE_PACKET = 0x300
export const NFQ_TYPE_VERDICT = 0x301
export const NFQ_TYPE_CONFIG = 0x302

/** Packet and verdict attributes (enum nfqnl_attr_type). */
export enum NfqAttr {
  /** {be32 packet_id, be16 hw_protocol, u8 hook}: 7 bytes. */
  PacketHdr = 1,
  /** {be32 verdict, be32 id}. */
  VerdictHdr = 2,
  Mark = 3,
  Timestamp = 4,
  IfindexIndev = 5,
  IfindexOutdev = 6,
  IfindexPhysIndev = 7,
  IfindexPhysOutdev = 8,
  HwAddr = 9,
  /** The IP packet, cut to the copy range. */
  Payload = 10,
  Ct = 11,
  CtInfo = 12,
  CapLen = 13,
  SkbInfo = 14,
  Exp = 15,
  Uid = 16,
  Gid = 17,
  SecCtx = 18,
  Vlan = 19,
  L2Hdr = 20,
  Priority = 21,
}

/** Config attributes (enum nfqnl_attr_config). */
export enum NfqCfgAttr {
  /** {u8 command, u8 pad, be16 pf}. */
  Cmd = 1,
  /** {be32 copy_range, u8 copy_mode}, packed: 5 bytes. */
  Params = 2,
  /** be32. */
  QueueMaxLen = 3,
  /** be32: which flag bits NfqCfgAttr.Flags sets. */
  Mask = 4,
  /** be32. */
  Flags = 5,
}

/** NFQA_CFG_CMD commands (enum nfqnl_msg_config_cmds). */
export enum NfqCfgCmd {
  None = 0,
  Bind = 1,
  Unbind = 2,
  PfBind = 3,
  PfUnbind = 4,
}

export enum NfqCopyMode {
  None = 0,
  Meta = 1,
  Packet = 2,
}

/** NFQA_CFG_F_* bits. */
export enum NfqCfgFlag {
  FailOpen = 1,
  Conntrack = 2,
  Gso = 4,
  UidGid = 8,
  SecCtx = 16,
}

// ---- the core's NFQUEUE API (wasm/assembly/nfq.ts) ---------------------------

/** Bits of the `options` argument of nfqConfigBuild. */
export enum NfqConfigOption {
  /** Add a QUEUE_MAXLEN message with the `maxLen` argument. */
  QueueMaxLen = 1,
  /** Add a FLAGS message setting NFQA_CFG_F_FAIL_OPEN. */
  FailOpen = 2,
  /** Put every message in one datagram (default: one datagram per message). */
  OneDatagram = 4,
}

/** Bytes of one verdict message: nlmsghdr 16 + nfgenmsg 4 + NFQA_VERDICT_HDR 12. */
export const NFQ_VERDICT_MSG_LEN = 32

/** Fields of the last nfqParseBatch, read with nfqStat(field) (u32 each). */
export enum NfqStat {
  /** Frame descriptors written at DESC_OFF (= packet ids at NFQ_IDS_OFF). */
  Frames = 0,
  /** Datagram descriptors read. */
  Datagrams = 1,
  /** Netlink messages walked (all types). */
  Messages = 2,
  /** NFQNL_MSG_PACKET messages. */
  Packets = 3,
  /** Packets given a zero-length frame (no NFQA_PAYLOAD, or a bad attribute after the id). */
  NoPayload = 4,
  /** NLMSG_ERROR with error 0. */
  Acks = 5,
  /** NLMSG_ERROR with a negative error. */
  Errors = 6,
  /** errno (positive) of the last error message of the batch, 0 when none. */
  LastErrno = 7,
  /** nlmsg_seq of the last error message (the seq of the request that failed). */
  LastErrorSeq = 8,
  /** nlmsg_type of the request the last error answers (0 when the kernel did not echo it). */
  LastErrorType = 9,
  /** Messages that break the netlink framing or carry bad attributes. */
  Malformed = 10,
  /** Messages cut short by the receive slot (nlmsg_len beyond the datagram). */
  Truncated = 11,
  /** Packets with an id that found no free descriptor slot: they got no verdict. */
  Overflow = 12,
  /** NOOP, DONE, OVERRUN and messages of other types. */
  Ignored = 13,
  /** Datagram descriptors outside FRAMES. */
  BadDatagrams = 14,
  Count = 15,
}

/** Cumulative counters of the NFQUEUE code, read with nfqCounter(idx) (u64 each). */
export enum NfqCounter {
  Datagrams = 0,
  Messages = 1,
  Packets = 2,
  NoPayload = 3,
  Acks = 4,
  Errors = 5,
  Malformed = 6,
  Truncated = 7,
  Overflow = 8,
  Ignored = 9,
  BadDatagrams = 10,
  /** Config messages built. */
  ConfigMessages = 11,
  /** Verdict messages built. */
  Verdicts = 12,
  Count = 13,
}
