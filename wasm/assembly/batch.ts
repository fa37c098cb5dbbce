export function batchProcess (n: i32, linkType: i32, now: u32): i32 { return 0 }
