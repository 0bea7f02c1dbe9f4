/**
 * Seeded randomness for the simulator: xoshiro128** streams, each derived
 * from the run's seed and a label (`node:3`, `net`, `workload`), so adding a
 * consumer of one stream never shifts the numbers another stream draws.
 */
import { createHash } from 'node:crypto'
import { xoshiro128ss } from '../sync/runtime.js'

export class Rng {
  private readonly s = new Uint32Array(4)

  /** A stream for `label` under `seed` (SHA-256 of both spreads the seed over the state). */
  constructor(seed: number | string, label = '') {
    const h = createHash('sha256').update(`bt-sim/${seed}/${label}`).digest()
    for (let i = 0; i < 4; i++) this.s[i] = h.readUInt32LE(i * 4)
    if (this.s.every((x) => x === 0)) this.s[0] = 1
  }

  /** Next 32 random bits (xoshiro128**, the generator of sync/runtime.ts). */
  next32(): number {
    return xoshiro128ss(this.s)
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next32() / 2 ** 32
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    if (hi <= lo) return lo
    return lo + Math.floor(this.float() * (hi - lo + 1))
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[this.int(0, items.length - 1)]!
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      const v = this.next32()
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff
    }
    return out
  }

  /** Exponentially distributed delay with the given mean (Poisson arrivals). */
  exp(mean: number): number {
    return -Math.log(1 - this.float()) * mean
  }
}
