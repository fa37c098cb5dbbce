// A one-way network path with delay, jitter, loss, reordering and
// duplication, decided by the simulation's seeded generator.
import type { EventQueue } from './events.js'
import type { Rng } from './rng.js'

export interface LinkOptions {
  /** One-way delay, ms. Default 0.25. */
  delayMs?: number
  /** Extra uniform random delay 0..jitterMs. Default 0. */
  jitterMs?: number
  /** Probability a packet is lost. Default 0. */
  lossRate?: number
  /** Probability a packet is held back by reorderDelayMs (so later ones overtake it). Default 0. */
  reorderRate?: number
  /** How long a reordered packet is held back (plus up to the same again at random). Default 1. */
  reorderDelayMs?: number
  /** Probability a packet arrives twice. Default 0. */
  dupRate?: number
}

export interface LinkStats {
  sent: number
  delivered: number
  lost: number
  reordered: number
  duplicated: number
}

export class Link {
  readonly options: Required<LinkOptions>
  readonly stats: LinkStats = { sent: 0, delivered: 0, lost: 0, reordered: 0, duplicated: 0 }
  /** When false every packet is lost (a cable pulled). */
  up = true
  readonly #drops: Array<{ match: (bytes: Uint8Array) => boolean, left: number }> = []

  constructor (options: LinkOptions, readonly queue: EventQueue, readonly rng: Rng) {
    this.options = {
      delayMs: options.delayMs ?? 0.25,
      jitterMs: options.jitterMs ?? 0,
      lossRate: options.lossRate ?? 0,
      reorderRate: options.reorderRate ?? 0,
      reorderDelayMs: options.reorderDelayMs ?? 1,
      dupRate: options.dupRate ?? 0
    }
  }

  /** Loses the next `count` packets for which `match` is true (deterministic loss for tests). */
  dropNext (match: (bytes: Uint8Array) => boolean, count = 1): void {
    this.#drops.push({ match, left: count })
  }

  #planned (bytes: Uint8Array): boolean {
    for (const d of this.#drops) {
      if (d.left > 0 && d.match(bytes)) {
        d.left--
        return true
      }
    }
    return false
  }

  /** Carries `bytes` to `deliver` (called later, on the queue). */
  send (bytes: Uint8Array, deliver: (bytes: Uint8Array) => void): void {
    const o = this.options
    this.stats.sent++
    if (!this.up || this.#planned(bytes) || this.rng.chance(o.lossRate)) {
      this.stats.lost++
      return
    }
    const copies = this.rng.chance(o.dupRate) ? 2 : 1
    if (copies === 2) this.stats.duplicated++
    for (let i = 0; i < copies; i++) {
      let delay = o.delayMs + (o.jitterMs > 0 ? this.rng() * o.jitterMs : 0) + i * 0.01
      if (this.rng.chance(o.reorderRate)) {
        this.stats.reordered++
        delay += o.reorderDelayMs * (1 + this.rng())
      }
      this.queue.after(delay, () => {
        this.stats.delivered++
        deliver(bytes)
      })
    }
  }
}
