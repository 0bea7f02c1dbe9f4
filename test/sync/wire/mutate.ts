/**
 * Seeded frame mutations for the protocol fuzzers: bit flips, truncation,
 * lengths set huge, wrong types, splices and plain noise, applied to valid
 * encoded messages.
 */
import { ManualRuntime } from '../../../sync/runtime.js'

export class FuzzRandom {
  private readonly rt: ManualRuntime
  constructor(readonly seed: number) {
    this.rt = new ManualRuntime(seed)
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return this.rt.next32() % n
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!
  }
  bytes(n: number): Uint8Array {
    return this.rt.bytes(n)
  }
}

/** A seed from BT_FUZZ_SEED, or a fresh one; printed so a failure can be replayed. */
export function fuzzSeed(name: string): number {
  const env = process.env.BT_FUZZ_SEED
  const seed = env ? Number(env) >>> 0 : (Math.random() * 2 ** 32) >>> 0
  console.log(`${name}: seed ${seed} (replay with BT_FUZZ_SEED=${seed})`)
  return seed
}

/** Varint-shaped byte runs that decode to huge lengths/counts, or break the varint rules. */
const HUGE: readonly number[][] = [
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0xff, 0xff, 0xff, 0xff, 0x7f],
  [0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
  [0xff, 0xff, 0x3f],
  [0x80, 0x00],
  [0x81, 0x80, 0x80, 0x01],
]

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** One mutation of `frame` (another valid frame may be spliced in). */
export function mutate(r: FuzzRandom, frame: Uint8Array, other: Uint8Array): Uint8Array {
  const f = frame.slice()
  const at = (len: number) => r.int(Math.max(1, len))
  switch (r.int(11)) {
    case 0: {
      // 1..8 bit flips
      const n = 1 + r.int(8)
      for (let i = 0; i < n && f.length > 0; i++) f[at(f.length)]! ^= 1 << r.int(8)
      return f
    }
    case 1:
      // a random byte overwritten
      if (f.length > 0) f[at(f.length)] = r.int(256)
      return f
    case 2:
      // truncated
      return f.subarray(0, at(f.length))
    case 3:
      // trailing bytes
      return concat(f, r.bytes(1 + r.int(16)))
    case 4: {
      // a length/count field set huge: overwrite bytes after the type byte with a varint run
      const run = Uint8Array.from(r.pick(HUGE))
      const pos = 1 + at(Math.min(f.length, 48))
      return concat(f.subarray(0, pos), run, f.subarray(Math.min(f.length, pos + r.int(6))))
    }
    case 5:
      // wrong type byte (valid or not)
      if (f.length > 0) f[0] = r.int(4) === 0 ? r.int(256) : 1 + r.int(17)
      return f
    case 6: {
      // a range deleted
      const a = at(f.length)
      return concat(f.subarray(0, a), f.subarray(a + 1 + r.int(32)))
    }
    case 7: {
      // random bytes inserted
      const a = at(f.length)
      return concat(f.subarray(0, a), r.bytes(1 + r.int(8)), f.subarray(a))
    }
    case 8:
      // the head of one frame with the tail of another
      return concat(f.subarray(0, at(f.length)), other.subarray(at(other.length)))
    case 9:
      // plain noise with a plausible type byte
      return concat(Uint8Array.of(1 + r.int(17)), r.bytes(r.int(96)))
    default: {
      // several mutations stacked
      let g: Uint8Array = f
      for (let i = 0; i < 2 + r.int(3); i++) g = mutate(r, g, other)
      return g
    }
  }
}
