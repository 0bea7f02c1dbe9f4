/**
 * Injected sources of time and randomness. Code in `node/`, `sync/` and `store/`
 * never calls `Date.now()`, `Math.random()` or `setTimeout` directly; it takes a
 * `Runtime`, so `bt sim` can replay a run exactly from its seed.
 */
import { randomBytes, randomFillSync } from 'node:crypto'

/** Wall or virtual clock, milliseconds since the Unix epoch. */
export interface Clock {
  now(): number
}

/** A source of random bytes (cryptographic in production, seeded in the simulator). */
export interface Random {
  bytes(n: number): Uint8Array
}

/** A cancellable timer; virtual in the simulator. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): { cancel(): void }
}

export interface Runtime {
  clock: Clock
  random: Random
  timers: Timers
}

/** The real clock, CSPRNG and timers. Only composition roots (CLI, daemon, tests) call this. */
export function systemRuntime(): Runtime {
  return {
    clock: { now: () => Date.now() },
    random: { bytes: pooledRandom() },
    timers: {
      setTimeout(fn, ms) {
        const t = setTimeout(fn, ms)
        return { cancel: () => clearTimeout(t) }
      },
    },
  }
}

/**
 * CSPRNG bytes served from a refilled 4 KiB pool: ids are asked for many times
 * per file commit, and one system call per 16 bytes showed in profiles.
 */
function pooledRandom(): (n: number) => Uint8Array {
  const pool = new Uint8Array(4096)
  let used = pool.length
  return (n) => {
    if (n > 256) return new Uint8Array(randomBytes(n))
    if (used + n > pool.length) {
      randomFillSync(pool)
      used = 0
    }
    const out = pool.slice(used, used + n)
    // Served bytes are wiped so no copy of them stays in the pool.
    pool.fill(0, used, used + n)
    used += n
    return out
  }
}

/**
 * A deterministic runtime: xoshiro128** seeded from `seed`, a manual clock
 * starting at `start` that only moves when `advance` is called, and timers that
 * fire from `advance`.
 */
export class ManualRuntime implements Runtime {
  private s: Uint32Array
  private t: number
  private pending: { at: number; seq: number; fn: () => void; live: boolean }[] = []
  private seq = 0
  readonly clock: Clock
  readonly random: Random
  readonly timers: Timers

  constructor(seed = 1, start = Date.UTC(2026, 0, 1)) {
    this.t = start
    this.s = new Uint32Array(4)
    // splitmix32 to spread the seed over the state
    let x = seed >>> 0
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      this.s[i] = (z ^ (z >>> 16)) >>> 0
    }
    this.clock = { now: () => this.t }
    this.random = { bytes: (n) => this.bytes(n) }
    this.timers = {
      setTimeout: (fn, ms) => {
        const entry = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, live: true }
        this.pending.push(entry)
        return {
          cancel: () => {
            entry.live = false
          },
        }
      },
    }
  }

  /** Next 32 random bits. */
  next32(): number {
    return xoshiro128ss(this.s)
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      const v = this.next32()
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff
    }
    return out
  }

  /** Move the clock forward, firing due timers in (time, creation) order. */
  advance(ms: number): void {
    const end = this.t + ms
    for (;;) {
      const due = this.pending
        .filter((p) => p.live && p.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (!due) break
      due.live = false
      this.t = Math.max(this.t, due.at)
      due.fn()
    }
    this.pending = this.pending.filter((p) => p.live)
    this.t = end
  }
}

/** One step of xoshiro128** over a 4-word state (advanced in place): the next 32 random bits. */
export function xoshiro128ss(s: Uint32Array): number {
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

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

/** Lower-case hex of bytes. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}
