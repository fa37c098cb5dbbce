// PLACEHOLDER until the router lands: see the contract in the comments.
/** Bytes the router needs in the arena for `buckets` buckets and `maxRoutes` entries. */
export function routerBytes (buckets: u32, maxRoutes: u32): usize { return <usize>buckets * 4 + <usize>maxRoutes * 64 }
/** Places the router at `base` (zeroed memory). */
export function routerSetup (base: usize, buckets: u32, maxRoutes: u32, timeoutMs: u32, dnat: bool): void {}
/** Adds or refreshes key k -> conn; returns a Status. */
export function routerAddKey (k: usize, conn: i32, now: u32): i32 { return 0 }
/** Connection of key k (refreshing it) or -1. */
export function routerLookupKey (k: usize, now: u32): i32 { return -1 }
