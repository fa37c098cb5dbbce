/**
 * The raw exports of the WASM core (wasm/assembly/index.ts). Offsets are
 * byte offsets into the core's memory; `now` is a millisecond clock chosen by
 * the host (any epoch, monotonic, compared with wrap-around u32 arithmetic).
 * Functions returning a Status return 0 (Status.Ok) on success.
 */
export interface CoreExports {
  // ---- lifecycle ----------------------------------------------------------------
  /**
   * Checks the layout, sizes the router and delay table, grows memory for
   * them, zeroes every table, counter and the passlist, and keys the route
   * hash with the 64-bit seed seedHi:seedLo (RawCore.hashSeed, see seedWords).
   */
  coreInit (routerBuckets: number, maxRoutes: number, routeTimeoutMs: number, dnat: number,
    delayBuckets: number, delayPerKey: number, delayTotal: number, delayExpireMs: number,
    seedLo: number, seedHi: number): number
  /** Bytes of memory the arena uses (router + delay table) after coreInit. */
  coreArenaBytes (): number

  // ---- parsing and checksums (wasm/assembly/parse.ts, checksum.ts) ---------------
  /**
   * Parses one frame at [off, off+len) of link type `linkType`; fills
   * PARSE_OFF. `flags` (ParseFlag bits, 0 when left out): with
   * ParseFlag.TcpOptionStatus a malformed TCP option answers BadTcpOption,
   * without it Ok (OptFlag.Malformed is set either way).
   */
  parsePacket (off: number, len: number, linkType: number, flags?: number): number
  /** RFC 1071 sum over [off, off+len), folded and complemented: the checksum value. */
  checksumCompute (off: number, len: number): number
  /** The value the IPv4 header checksum field should hold (the field itself is skipped). */
  ipChecksumCompute (ipOff: number, ihlBytes: number): number
  /** 1 when the IPv4 header checksum at ipOff is right, else 0. */
  ipChecksumVerify (ipOff: number, ihlBytes: number): number
  /** The value the TCP checksum field should hold, pseudo-header included (field skipped). */
  tcpChecksumCompute (ipOff: number, ipLen: number): number
  /** 1 when the TCP checksum of the IPv4 packet at ipOff (ipLen bytes) is right, else 0. */
  tcpChecksumVerify (ipOff: number, ipLen: number): number
  /** RFC 1624 incremental update of checksum `sum` when a 16-bit word changes old → new. */
  checksumAdjust16 (sum: number, oldWord: number, newWord: number): number
  /** RFC 1624 incremental update when a 32-bit value changes old → new (host-order values). */
  checksumAdjust32 (sum: number, oldValue: number, newValue: number): number
  /** Rewrites the IPv4 source (which=0) or destination (which=1) address and fixes both checksums; BadRegion unless the range is writable. */
  ipRewriteAddr (ipOff: number, ipLen: number, which: number, addr: number): number
  /** Rewrites the TCP source (which=0) or destination (which=1) port and fixes the TCP checksum; BadRegion unless the range is writable. */
  tcpRewritePort (ipOff: number, ipLen: number, which: number, port: number): number

  // ---- router (key in KEY_OFF) -------------------------------------------------
  routerAdd (conn: number, now: number): number
  /** Connection id of the key at KEY_OFF (refreshing it), or -1. */
  routerLookup (now: number): number
  routerDelete (): number
  /** Removes every route of connection `conn`; returns how many (time proportional to that number). */
  routerDeleteConn (conn: number): number
  /** Removes routes idle for longer than the timeout; returns how many. */
  routerExpire (now: number): number
  /** Looks up n 40-byte keys at keysOff, writes n i32 connection ids (or -1) at outOff. */
  routerLookupBatch (keysOff: number, n: number, outOff: number, now: number): number

  // ---- delay table -------------------------------------------------------------
  /** Adds the route for the key at KEY_OFF, then flushes its delayed records into OUT. */
  routeClientAdd (conn: number, now: number): number
  /**
   * Stores the IPv4 packet at ipOff (capLen bytes) in the delay table under
   * the key at KEY_OFF, once the parser accepts it as an unfragmented TCP
   * packet with its headers inside capLen and tot_len (else its Status).
   */
  delayStore (ipOff: number, capLen: number, now: number): number
  /** Drops delay-table keys older than the expiry; returns records dropped. */
  delayExpire (now: number): number

  // ---- connections, passlist and batches ---------------------------------------
  /** Sets the record dialect (RecordDialect) and payload flag of connection `conn`. */
  connSetFormat (conn: number, dialect: number, payload: number): number
  /** Takes the first n addresses of PASSLIST_OFF as the passlist. */
  passlistCommit (n: number): number
  /** Parses and classifies n frames described at DESC_OFF; writes verdicts and OUT. */
  batchProcess (n: number, linkType: number, now: number): number
  /** Resets OUT (the host calls this after it has taken the records). */
  outReset (): void

  // ---- NFQUEUE netlink (wasm/assembly/nfq.ts; constants in wasm/shared/netlink.ts) ----
  /**
   * Writes the config datagrams binding queue `queueNum` at TX_OFF (descriptors
   * at TX_DESC_OFF): PF_UNBIND, PF_BIND, BIND, PARAMS, then QUEUE_MAXLEN and
   * FAIL_OPEN flags as `options` (NfqConfigOption bits) ask; nlmsg_seq from `seq`.
   * Returns the datagram count, or -Status.
   */
  nfqConfigBuild (queueNum: number, copyRange: number, maxLen: number, options: number, seq: number): number
  /**
   * Turns the n netlink datagrams described at DESC_OFF into frame descriptors
   * (in place) and packet ids at NFQ_IDS_OFF; returns the frame count, or -Status.
   */
  nfqParseBatch (n: number): number
  /** Writes one datagram of m verdict messages (VERDICT_OFF[i], NFQ_IDS_OFF[i]) at TX_OFF; returns 1, 0 for m = 0, or -Status. */
  nfqVerdictBuild (m: number, queueNum: number, seq: number): number
  /** A field (NfqStat) of the last nfqParseBatch, as a u32 (read it with >>> 0). */
  nfqStat (field: number): number
  /** A cumulative NFQUEUE counter (NfqCounter) since instantiation. */
  nfqCounter (idx: number): bigint
}
