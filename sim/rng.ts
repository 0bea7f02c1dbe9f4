/**
 * Seeded randomness for the simulator: xoshiro128** streams, each derived
 * from the run's seed and a label (`node:3`, `net`, `workload`), so adding a
 * consumer of one stream never shifts the numbers another stream draws.
 */
import { createHash } from 'node:crypto'

export class Rng {
  private readonly s = new Uint32Array(4)

  /** A stream for `label` under `seed` (SHA-256 of both spreads the seed over the state). */
  constructor(seed: number | string, label = '') {
    const h = createHash('sha256').update(`bt-sim/${seed}/${label}`).digest()
    for (let i = 0; i < 4; i++) this.s[i] = h.readUInt32LE(i * 4)
    if (this.s.every((x) => x === 0)) this.s[0] = 1
  }

  /** Next 32 random bits (xoshiro128**). */
  next32(): number {
    const s = this.s
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0
    const t = (s[1]! << 9) >>> 0
    s[2]! ^= s[0]!
    s[3]! ^= s[1]!
    s[1]! ^= s[2]!
    s[0]! ^= s[3]!
    s[2]! ^= t
    s[3] = rotl(s[3]!, 11)
    return result
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

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}
