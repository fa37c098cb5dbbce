// PLACEHOLDER until the checksum module lands.
export function checksumCompute (off: usize, len: i32): u32 { return 0 }
