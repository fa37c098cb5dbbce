// PLACEHOLDER until the delay table lands: see the contract in the comments.
export function delayBytes (buckets: u32, total: u32): usize { return <usize>buckets * 4 + <usize>total * 264 }
export function delaySetup (base: usize, buckets: u32, perKey: u32, total: u32, expireMs: u32): void {}
/** Stores a copy of the IPv4 packet at ip (capLen bytes) under key k. */
export function delayPut (k: usize, ip: usize, capLen: u32, now: u32): i32 { return 0 }
/** Emits (recordEmit) every packet stored under k to conn in arrival order, then forgets k. Returns how many. */
export function delayFlush (k: usize, conn: i32): i32 { return 0 }
