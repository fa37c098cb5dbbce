// The fixed memory layout of one core. Offsets are in bytes from the start of
// the core's linear memory. Both the AssemblyScript core and the TypeScript
// loader import this file; nothing else may hard-code an offset.
//
// [0, REGION_BASE)                 AssemblyScript static data (checked at init)
// [REGION_BASE, ARENA_BASE)        fixed regions below, in this order
// [ARENA_BASE, ...)                router + delay tables, sized by coreInit

export const PAGE_SIZE = 65536
export const REGION_BASE = 65536

// ---- key scratch: the 4-tuple a router call works on -----------------------
// Addresses are 16 bytes each so IPv6 fits without a redesign; an IPv4
// address is stored IPv4-mapped (::ffff:a.b.c.d, the 4 bytes at +12).
export const KEY_OFF = REGION_BASE
export const KEY_SIZE = 40
export const KEY_CLIENT_ADDR = 0 //   16 bytes, network order
export const KEY_TARGET_ADDR = 16 //  16 bytes, network order
export const KEY_CLIENT_PORT = 32 //  u16, host order
export const KEY_TARGET_PORT = 34 //  u16, host order
export const KEY_FAMILY = 36 //       u8: 4 or 6 (compared with the rest; bytes 37..39 are padding)
// a key in a batch (routerLookupBatch) uses the same 40-byte form
/** Key scratch of the batch classifier (the host's KEY_OFF is left alone). */
export const BATCH_KEY_OFF = KEY_OFF + 64

// ---- parse result of parsePacket ---------------------------------------------
export const PARSE_OFF = KEY_OFF + 128
export const PARSE_SIZE = 128
export const P_STATUS = 0 //        u32 Status of the parse
export const P_FAMILY = 4 //        u8 4 or 6 (0 until the IP header was read)
export const P_L3_OFF = 8 //        u32 offset of the IP header from the frame start
export const P_IHL = 12 //          u32 IP header length in bytes
export const P_TOT_LEN = 16 //      u32 IP total length (field value)
export const P_CAP_LEN = 20 //      u32 bytes of the IP packet present (min(captured, tot_len))
export const P_IP_ID = 24 //        u16 IP identification
export const P_FRAG = 26 //         u16 flags + fragment offset (raw field, host order)
export const P_TTL = 28 //          u8
export const P_PROTO = 29 //        u8
export const P_TOS = 30 //          u8
export const P_SRC_ADDR = 32 //     16 bytes, network order (IPv4-mapped)
export const P_DST_ADDR = 48 //     16 bytes, network order (IPv4-mapped)
export const P_L4_OFF = 64 //       u32 offset of the TCP header from the frame start
export const P_SPORT = 68 //        u16 host order
export const P_DPORT = 70 //        u16 host order
export const P_SEQ = 72 //          u32 host order
export const P_ACK = 76 //          u32 host order
export const P_DOFF = 80 //         u32 TCP header length in bytes
export const P_TCP_FLAGS = 84 //    u8 (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128)
export const P_WINDOW = 86 //       u16 host order
export const P_PAYLOAD_OFF = 88 //  u32 offset of the payload from the frame start
export const P_PAYLOAD_LEN = 92 //  u32 payload length per the headers (tot_len - ihl - doff)
export const P_OPT_FLAGS = 96 //    u32 OptFlag bits: which TCP options were seen
export const P_MSS = 100 //         u16
export const P_WSCALE = 102 //      u8
export const P_TS_VAL = 104 //      u32
export const P_TS_ECR = 108 //      u32
export const P_LINK_LEN = 112 //    u32 link-layer header length (incl. VLAN tags)
export const P_VLAN = 116 //        u16 outermost VLAN id (0 when untagged)
/** Parse struct of the batch classifier (PARSE_OFF stays the host's). */
export const BATCH_PARSE_OFF = PARSE_OFF + PARSE_SIZE

// ---- counters: u64 little-endian, index * 8 from COUNTERS_OFF ---------------
export const COUNTERS_OFF = PARSE_OFF + 2 * PARSE_SIZE
export const COUNTERS_MAX = 64
export const COUNTERS_SIZE = COUNTERS_MAX * 8

// ---- passlist: u32 count, then up to PASSLIST_MAX 16-byte addresses ---------
export const PASSLIST_OFF = COUNTERS_OFF + COUNTERS_SIZE
export const PASSLIST_MAX = 256
export const PASSLIST_SIZE = 16 + PASSLIST_MAX * 16

// ---- per-connection record format: u32 per conn id --------------------------
export const CONNS_OFF = PASSLIST_OFF + PASSLIST_SIZE
export const CONNS_MAX = 65536
export const CONNS_SIZE = CONNS_MAX * 4

// ---- batch result: what the last batch call produced ---------------------------
export const RESULT_OFF = CONNS_OFF + CONNS_SIZE
export const RESULT_SIZE = 64
export const R_OUT_BYTES = 0 //     u32 bytes written to OUT
export const R_OUT_COUNT = 4 //     u32 records written to OUT
export const R_PROCESSED = 8 //     u32 descriptors processed

// ---- batch input: descriptors [offset u32, length u32] of frames in FRAMES ---
export const MAX_BATCH = 4096
export const DESC_OFF = RESULT_OFF + RESULT_SIZE
export const DESC_SIZE = MAX_BATCH * 8

// ---- batch verdicts: one u8 per descriptor -----------------------------------
export const VERDICT_OFF = DESC_OFF + DESC_SIZE
export const VERDICT_SIZE = MAX_BATCH

// ---- frames: captured bytes the descriptors point into -----------------------
export const FRAMES_OFF = VERDICT_OFF + VERDICT_SIZE
export const FRAMES_SIZE = 4 * 1024 * 1024

// ---- out: records for control connections ----------------------------------
// Each entry: [conn u32][len u16][kind u16][len bytes of record], padded to 4.
export const OUT_OFF = FRAMES_OFF + FRAMES_SIZE
export const OUT_SIZE = 2 * 1024 * 1024
export const OUT_ENTRY_HEADER = 8

// ---- netlink: packet ids of the last NFQUEUE batch, one u32 per descriptor ---
export const NFQ_IDS_OFF = OUT_OFF + OUT_SIZE
export const NFQ_IDS_SIZE = MAX_BATCH * 4

// ---- transmit: descriptors and bytes the host hands to PacketIo.send --------
// Descriptor: [offset u32][length u32][IPv4 destination u32, network order as
// read by load<u32>][reserved u32]. Offsets point into TX (or FRAMES).
export const TX_DESC_OFF = NFQ_IDS_OFF + NFQ_IDS_SIZE
export const TX_DESC_SIZE = MAX_BATCH * 16
export const TX_OFF = TX_DESC_OFF + TX_DESC_SIZE
export const TX_SIZE = 2 * 1024 * 1024

export const FIXED_END = TX_OFF + TX_SIZE
/** First byte of the arena, page aligned. */
export const ARENA_BASE = ((FIXED_END + PAGE_SIZE - 1) / PAGE_SIZE | 0) * PAGE_SIZE
/** Pages the loader creates the memory with; coreInit grows it for the arena. */
export const FIXED_PAGES = ARENA_BASE / PAGE_SIZE | 0
