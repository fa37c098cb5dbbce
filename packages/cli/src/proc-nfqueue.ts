// Kernel counters of an NFQUEUE queue from /proc/net/netfilter/nfnetlink_queue.
// Each line: queue number, peer port id, queue length, copy mode, copy range,
// queue dropped (queue full), user dropped (socket buffer full), last id, 1.
import { readFileSync } from 'node:fs'

export interface KernelQueueStats {
  queueNum: number
  portId: number
  length: number
  copyMode: number
  copyRange: number
  queueDropped: number
  userDropped: number
}

export const NFQUEUE_PROC = '/proc/net/netfilter/nfnetlink_queue'

export function parseNfqueueProc (text: string, queueNum: number): KernelQueueStats | undefined {
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number)
    if (f.length < 7 || f.some(n => !Number.isFinite(n))) continue
    if (f[0] !== queueNum) continue
    return { queueNum, portId: f[1]!, length: f[2]!, copyMode: f[3]!, copyRange: f[4]!, queueDropped: f[5]!, userDropped: f[6]! }
  }
  return undefined
}

export function readNfqueueProc (queueNum: number, path = NFQUEUE_PROC): KernelQueueStats | undefined {
  try { return parseNfqueueProc(readFileSync(path, 'utf8'), queueNum) } catch { return undefined }
}
