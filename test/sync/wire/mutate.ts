/**
 * Seeded frame mutations for the protocol fuzzers: bit flips, truncation,
 * lengths set huge, wrong types, splices and plain noise, applied to valid
 * encoded messages (`mutate`); and field-level changes of decoded messages
 * that still encode (`mutateMessage`), which get past the codec.
 */
import { ManualRuntime } from '../../../sync/runtime.js'
import { encodeMessage } from '../../../sync/wire/codec.js'
import type { Message } from '../../../sync/wire/messages.js'

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

const TYPES = [
  'hello',
  'open',
  'join',
  'welcome',
  'accept',
  'refuse',
  'members',
  'shards',
  'sync',
  'want',
  'have',
  'chunk',
  'nochunk',
  'peers',
  'ping',
  'pong',
  'error',
] as const
const ROLES = ['admin', 'writer', 'reader', 'server', 'nobody'] as const
const CODES = ['EMALFORMED', 'EORDER', 'ENOTMEMBER', 'EFORBIDDEN', 'ENOTREE', 'EBOGUS'] as const

function hex(r: FuzzRandom, bytes: number): string {
  return Buffer.from(r.bytes(bytes)).toString('hex')
}

/** A number a field might be set to: small, off by one, at a limit, huge, negative. */
function number(r: FuzzRandom, near: number): number {
  return r.pick([0, 1, 2, near - 1, near + 1, r.int(1000), 999_999, 1_000_000, 2 ** 31, 2 ** 32 - 1, -1])
}

/**
 * A field-level mutation of a decoded message, for frames that get past the
 * codec and reach the engine's own checks: one field changed (a channel, a
 * shard, an id, a role, bytes inside sync data or a membership entry, the
 * type itself), then re-encoded. `channel`, when given, is put into most
 * results so they land on a live channel. Undefined when the result does not
 * encode (the codec refuses to write it).
 */
export function mutateMessage(r: FuzzRandom, m: Message, channel?: number): Uint8Array | undefined {
  const o = { ...m } as Record<string, unknown>
  const touch = (k: string) => k in o
  switch (r.int(9)) {
    case 0:
      o.type = r.pick(TYPES)
      break
    case 1:
      if (touch('channel')) o.channel = number(r, Number(o.channel))
      break
    case 2:
      // bytes inside: Automerge sync data, a chunk, a proof, a key
      for (const k of ['data', 'proof', 'key']) {
        const v = o[k]
        if (v instanceof Uint8Array && v.length > 0) o[k] = mutate(r, v, v)
      }
      break
    case 3:
      // membership entries: one mutated, dropped, repeated, or a foreign one
      for (const k of ['entries', 'members']) {
        const v = o[k]
        if (!Array.isArray(v)) continue
        const xs = [...(v as Uint8Array[])]
        const i = r.int(Math.max(1, xs.length))
        const pick = r.int(4)
        if (pick === 0 && xs[i]) xs[i] = mutate(r, xs[i]!, xs[i]!)
        else if (pick === 1) xs.splice(i, 1)
        else if (pick === 2 && xs[i]) xs.push(...Array.from({ length: 1 + r.int(50) }, () => xs[i]!))
        else xs.push(r.bytes(1 + r.int(200)))
        o[k] = xs
      }
      break
    case 4:
      // chunk ids: random, another's, repeated, many, empty
      for (const k of ['ids']) {
        if (!touch(k)) continue
        const n = r.pick([0, 1, 2, 100, 5000])
        o[k] = Array.from({ length: n }, () =>
          r.int(3) === 0 ? hex(r, 32) : ((m as { ids: string[] }).ids[0] ?? hex(r, 32)),
        )
      }
      if (touch('id')) o.id = r.int(2) === 0 ? hex(r, 32) : hex(r, 1 + r.int(40))
      break
    case 5:
      if (touch('tree')) o.tree = r.int(2) === 0 ? hex(r, 16) : hex(r, r.int(40))
      if (touch('shard')) o.shard = number(r, Number(o.shard))
      if (touch('shards')) o.shards = Array.from({ length: r.pick([0, 1, 3, 1000]) }, () => number(r, 3))
      break
    case 6:
      if (touch('role')) o.role = r.pick(ROLES)
      if (touch('code')) o.code = r.pick(CODES)
      if (touch('version')) o.version = number(r, 1)
      if (touch('minVersion')) o.minVersion = number(r, 1)
      if (touch('nonce')) o.nonce = number(r, 0)
      break
    case 7:
      // peer exchange: addresses of every shape
      if (touch('peers'))
        o.peers = Array.from({ length: r.pick([0, 1, 300]) }, () => ({
          node: hex(r, r.pick([32, 31, 0])),
          addrs: Array.from({ length: r.pick([0, 1, 20]) }, () =>
            r.pick(['iroh:127.0.0.1:1', 'hs:zz', '', hex(r, 8)]),
          ),
        }))
      else if (touch('reason')) o.reason = hex(r, r.int(600))
      break
    default: {
      // a field dropped
      const keys = Object.keys(o).filter((k) => k !== 'type')
      if (keys.length > 0) delete o[r.pick(keys)]
    }
  }
  if (channel !== undefined && touch('channel') && r.int(4) > 0) o.channel = channel
  try {
    return encodeMessage(o as unknown as Message)
  } catch {
    return undefined
  }
}
