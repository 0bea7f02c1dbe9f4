/**
 * The frame codec of docs/PROTOCOL.md (section 1): one message per frame, a
 * type byte then the fields in a fixed order, every length and count checked
 * against `LIMITS` and against the bytes left before anything is allocated.
 *
 * `decodeMessage` throws only `ProtocolError` (code EMALFORMED, with a reason
 * naming the field); `encodeMessage` throws `RangeError` on a message that
 * would not decode, which is a local bug.
 */
import { allocFrame } from '../transport/framing.js'
import { MAX_FRAME, type PeerAddress } from '../transport/types.js'
import {
  LIMITS,
  type Message,
  type MessageType,
  ProtocolError,
  type ProtocolErrorCode,
  type Role,
} from './messages.js'

/** Type byte of each message (PROTOCOL.md 1.2). */
export const TYPE_CODES: Readonly<Record<MessageType, number>> = {
  hello: 1,
  open: 2,
  join: 3,
  welcome: 4,
  accept: 5,
  refuse: 6,
  members: 7,
  shards: 8,
  sync: 9,
  want: 10,
  have: 11,
  chunk: 12,
  nochunk: 13,
  peers: 14,
  ping: 15,
  pong: 16,
  error: 17,
}

const TYPE_NAMES: (MessageType | undefined)[] = []
for (const [name, code] of Object.entries(TYPE_CODES)) TYPE_NAMES[code] = name as MessageType

/** Role byte values (PROTOCOL.md 1.1). */
export const ROLES: readonly Role[] = ['admin', 'writer', 'reader', 'server']
/** Error code byte values (PROTOCOL.md 1.1). */
export const ERROR_CODES: readonly ProtocolErrorCode[] = [
  'EVERSION',
  'EMALFORMED',
  'EORDER',
  'ENOTMEMBER',
  'EFORBIDDEN',
  'EINVITE',
  'ENOTREE',
  'EINTERNAL',
]

/** Byte lengths of fixed-size fields. */
export const SIZES = {
  tree: 16,
  node: 32,
  chunk: 32,
  key: 32,
  proof: 32,
  inviteMin: 8,
  inviteMax: 16,
} as const

const TREE_RE = /^[0-9a-f]{32}$/
const ID64_RE = /^[0-9a-f]{64}$/
const INVITE_RE = /^(?:[0-9a-f]{2}){8,16}$/

/** True for a tree id: 32 lower-case hex chars. */
export function isTreeId(s: unknown): s is string {
  return typeof s === 'string' && TREE_RE.test(s)
}
/** True for a node id or a chunk id: 64 lower-case hex chars. */
export function isId64(s: unknown): s is string {
  return typeof s === 'string' && ID64_RE.test(s)
}
/** True for an invite id: 8 to 16 bytes as lower-case hex. */
export function isInviteId(s: unknown): s is string {
  return typeof s === 'string' && INVITE_RE.test(s)
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * `s` cut to at most `max` UTF-8 bytes (default LIMITS.text) on a code point
 * boundary, with lone surrogates replaced: safe to put in any text field
 * (reasons built from errors, agents, names) without a RangeError.
 */
export function clampText(s: string, max: number = LIMITS.text): string {
  let out = LONE_SURROGATE.test(s) ? s.replace(new RegExp(LONE_SURROGATE, 'g'), '\uFFFD') : s
  if (out.length * 3 <= max) return out
  let bytes = 0
  let end = 0
  for (const ch of out) {
    const n = Buffer.byteLength(ch, 'utf8')
    if (bytes + n > max) break
    bytes += n
    end += ch.length
  }
  out = out.slice(0, end)
  return out
}

// ---------------------------------------------------------------- encoding

/**
 * Encode a message into one frame. RangeError if the message breaks a rule of PROTOCOL.md.
 * `alloc`: where a `chunk` message is built (exactly its size is asked for; e.g. the
 * connection's `allocFrame`, which sends it without a copy); other messages ignore it.
 */
export function encodeMessage(m: Message, alloc?: (size: number) => Uint8Array): Uint8Array {
  const w =
    m.type === 'chunk' && alloc && m.data instanceof Uint8Array && validUint(m.channel)
      ? new Writer(0, alloc(1 + uintSize(m.channel) + SIZES.chunk + uintSize(m.data.length) + m.data.length))
      : new Writer(m.type === 'chunk' || m.type === 'sync' ? 64 + m.data.length : 256)
  w.u8(TYPE_CODES[m.type] ?? fail(`unknown message type ${String((m as { type: unknown }).type)}`))
  switch (m.type) {
    case 'hello':
      if (!(m.version >= 1) || !(m.minVersion >= 1) || m.minVersion > m.version)
        fail(`hello: bad version range ${m.minVersion}..${m.version}`)
      w.uint(m.version)
      w.uint(m.minVersion)
      w.text(m.agent)
      break
    case 'open':
      w.uint(m.channel)
      w.hex(m.tree, SIZES.tree, 'tree')
      if (m.members?.length) w.entries(m.members)
      break
    case 'join':
      w.uint(m.channel)
      w.hex(m.tree, SIZES.tree, 'tree')
      if (!isInviteId(m.invite)) fail('join: invite must be 8..16 bytes of lower-case hex')
      w.bytes(Buffer.from(m.invite, 'hex'), SIZES.inviteMax, 'invite')
      w.fixed(m.proof, SIZES.proof, 'proof')
      break
    case 'welcome':
      w.uint(m.channel)
      w.text(m.name)
      w.role(m.role)
      w.fixed(m.key, SIZES.key, 'key')
      w.entries(m.members)
      break
    case 'accept':
      w.uint(m.channel)
      w.role(m.role)
      break
    case 'refuse':
      w.uint(m.channel)
      w.code(m.code)
      w.text(m.reason)
      break
    case 'members':
      w.uint(m.channel)
      w.entries(m.entries)
      break
    case 'shards':
      w.uint(m.channel)
      w.count(m.shards.length, LIMITS.shards, 'shards')
      for (const s of m.shards) w.shard(s)
      break
    case 'sync':
      w.uint(m.channel)
      w.shard(m.shard)
      if (m.data.length < 1) fail('sync: empty data')
      w.bytes(m.data, LIMITS.sync, 'sync data')
      break
    case 'want':
    case 'have':
    case 'nochunk':
      w.uint(m.channel)
      w.count(m.ids.length, LIMITS.ids, 'ids')
      for (const id of m.ids) w.hex(id, SIZES.chunk, 'chunk id')
      break
    case 'chunk':
      w.uint(m.channel)
      w.hex(m.id, SIZES.chunk, 'chunk id')
      w.bytes(m.data, LIMITS.chunk, 'chunk data')
      break
    case 'peers':
      w.uint(m.channel)
      w.count(m.peers.length, LIMITS.peers, 'peers')
      for (const p of m.peers) {
        w.hex(p.node, SIZES.node, 'peer node')
        w.count(p.addrs.length, LIMITS.addrs, 'peer addrs')
        for (const a of p.addrs) w.text(a)
      }
      break
    case 'ping':
    case 'pong':
      w.uint(m.nonce)
      break
    case 'error':
      w.code(m.code)
      w.text(m.reason)
      break
  }
  const frame = w.done()
  if (frame.length > MAX_FRAME) fail(`frame of ${frame.length} bytes exceeds MAX_FRAME`)
  return frame
}

function fail(msg: string): never {
  throw new RangeError(`cannot encode: ${msg}`)
}

function validUint(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff
}

/** Bytes of `v` as a LEB128 varint (Writer.uint). */
function uintSize(v: number): number {
  let n = 1
  for (let x = v; x >= 0x80; x = Math.floor(x / 128)) n++
  return n
}

/** Builds a frame in memory from `allocFrame`: a framed connection sends it without a copy. */
class Writer {
  private buf: Uint8Array
  private view: Buffer | undefined
  private pos = 0
  /** `into`: memory to build in (grown from allocFrame if it proves too small). */
  constructor(size: number, into?: Uint8Array) {
    this.buf = into ?? allocFrame(size)
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = allocFrame(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }
  u8(v: number): void {
    this.room(1)
    this.buf[this.pos++] = v
  }
  uint(v: number): void {
    if (!validUint(v)) fail(`integer out of range 0..2^32-1: ${v}`)
    this.room(5)
    let x = v
    while (x >= 0x80) {
      this.buf[this.pos++] = (x & 0x7f) | 0x80
      x = Math.floor(x / 128)
    }
    this.buf[this.pos++] = x
  }
  shard(v: number): void {
    if (!(v <= LIMITS.maxShard)) fail(`shard ${v} exceeds ${LIMITS.maxShard}`)
    this.uint(v)
  }
  count(n: number, max: number, what: string): void {
    if (n > max) fail(`${n} ${what} exceed the limit of ${max}`)
    this.uint(n)
  }
  fixed(b: Uint8Array, len: number, what: string): void {
    if (!(b instanceof Uint8Array) || b.length !== len) fail(`${what} must be ${len} bytes`)
    this.room(len)
    this.buf.set(b, this.pos)
    this.pos += len
  }
  bytes(b: Uint8Array, max: number, what: string): void {
    if (!(b instanceof Uint8Array)) fail(`${what} must be bytes`)
    if (b.length > max) fail(`${what} of ${b.length} bytes exceeds the limit of ${max}`)
    this.uint(b.length)
    this.fixed(b, b.length, what)
  }
  text(s: string): void {
    if (typeof s !== 'string') fail('text must be a string')
    // A lone surrogate would be sent as U+FFFD: another text than the one given.
    if (LONE_SURROGATE.test(s)) fail('text holds a lone surrogate')
    this.bytes(utf8.encode(s), LIMITS.text, 'text')
  }
  hex(s: string, len: number, what: string): void {
    const ok = len === 16 ? isTreeId(s) : isId64(s)
    if (!ok) fail(`${what} must be ${len * 2} lower-case hex chars`)
    this.room(len)
    // Written in place through a Buffer view of the output: no temporary per id.
    if (this.view?.buffer !== this.buf.buffer)
      this.view = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength)
    this.view.write(s, this.pos, len, 'hex')
    this.pos += len
  }
  role(r: Role): void {
    const i = ROLES.indexOf(r)
    if (i < 0) fail(`unknown role ${String(r)}`)
    this.u8(i)
  }
  code(c: ProtocolErrorCode): void {
    const i = ERROR_CODES.indexOf(c)
    if (i < 0) fail(`unknown error code ${String(c)}`)
    this.u8(i)
  }
  entries(list: Uint8Array[]): void {
    this.count(list.length, LIMITS.members, 'membership entries')
    for (const e of list) this.bytes(e, LIMITS.entry, 'membership entry')
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.pos)
  }
}

// ---------------------------------------------------------------- decoding

/**
 * Decode one received frame. Throws `ProtocolError` EMALFORMED with a reason
 * naming the offending field; never another exception. `sync` and `chunk`
 * data are views into `frame` (copy them if the frame's buffer is reused).
 */
export function decodeMessage(frame: Uint8Array): Message {
  try {
    return decode(frame)
  } catch (e) {
    if (e instanceof ProtocolError) throw e
    // Defence in depth: whatever slipped past the checks is still a malformed frame.
    throw new ProtocolError('EMALFORMED', `undecodable frame: ${(e as Error)?.message ?? String(e)}`)
  }
}

function decode(frame: Uint8Array): Message {
  if (!(frame instanceof Uint8Array)) malformed('frame is not bytes')
  if (frame.length === 0) malformed('empty frame')
  if (frame.length > MAX_FRAME) malformed(`frame of ${frame.length} bytes exceeds MAX_FRAME`)
  const r = new Reader(frame)
  const code = r.u8('type')
  const type = TYPE_NAMES[code]
  if (!type) malformed(`unknown message type ${code}`)
  r.type = type
  let m: Message
  switch (type) {
    case 'hello': {
      const version = r.uint('version')
      const minVersion = r.uint('minVersion')
      if (version < 1 || minVersion < 1 || minVersion > version)
        r.bad(`bad version range ${minVersion}..${version}`)
      m = { type, version, minVersion, agent: r.text('agent') }
      break
    }
    case 'open': {
      const o: Extract<Message, { type: 'open' }> = {
        type,
        channel: r.uint('channel'),
        tree: r.hex(SIZES.tree, 'tree'),
      }
      // Optional trailing membership proof; never empty (one encoding per message).
      if (r.left > 0) {
        const members = r.entries()
        if (members.length === 0) r.bad('trailing bytes (an empty membership proof)')
        o.members = members
      }
      m = o
      break
    }
    case 'join': {
      const channel = r.uint('channel')
      const tree = r.hex(SIZES.tree, 'tree')
      const inv = r.bytes(SIZES.inviteMax, 'invite')
      if (inv.length < SIZES.inviteMin) r.bad(`invite of ${inv.length} bytes, expected 8..16`)
      m = { type, channel, tree, invite: toHexStr(inv), proof: r.fixed(SIZES.proof, 'proof').slice() }
      break
    }
    case 'welcome':
      m = {
        type,
        channel: r.uint('channel'),
        name: r.text('name'),
        role: r.role(),
        key: r.fixed(SIZES.key, 'key').slice(),
        members: r.entries(),
      }
      break
    case 'accept':
      m = { type, channel: r.uint('channel'), role: r.role() }
      break
    case 'refuse':
      m = { type, channel: r.uint('channel'), code: r.code(), reason: r.text('reason') }
      break
    case 'members':
      m = { type, channel: r.uint('channel'), entries: r.entries() }
      break
    case 'shards': {
      const channel = r.uint('channel')
      // Each shard takes at least one byte.
      const n = r.count(LIMITS.shards, 1, 'shards')
      const shards = new Array<number>(n)
      for (let i = 0; i < n; i++) shards[i] = r.shard()
      m = { type, channel, shards }
      break
    }
    case 'sync': {
      const channel = r.uint('channel')
      const shard = r.shard()
      const data = r.bytes(LIMITS.sync, 'sync data')
      if (data.length === 0) r.bad('empty sync data')
      m = { type, channel, shard, data }
      break
    }
    case 'want':
    case 'have':
    case 'nochunk': {
      const channel = r.uint('channel')
      const n = r.count(LIMITS.ids, SIZES.chunk, 'ids')
      const ids = new Array<string>(n)
      for (let i = 0; i < n; i++) ids[i] = r.hex(SIZES.chunk, 'chunk id')
      m = { type, channel, ids }
      break
    }
    case 'chunk':
      m = {
        type,
        channel: r.uint('channel'),
        id: r.hex(SIZES.chunk, 'chunk id'),
        data: r.bytes(LIMITS.chunk, 'chunk data'),
      }
      break
    case 'peers': {
      const channel = r.uint('channel')
      // A peer takes at least its node id and an address count.
      const n = r.count(LIMITS.peers, SIZES.node + 1, 'peers')
      const peers = new Array<PeerAddress>(n)
      for (let i = 0; i < n; i++) {
        const node = r.hex(SIZES.node, 'peer node')
        const k = r.count(LIMITS.addrs, 1, 'peer addrs')
        const addrs = new Array<string>(k)
        for (let j = 0; j < k; j++) addrs[j] = r.text('peer addr')
        peers[i] = { node, addrs }
      }
      m = { type, channel, peers }
      break
    }
    case 'ping':
    case 'pong':
      m = { type, nonce: r.uint('nonce') }
      break
    case 'error':
      m = { type, code: r.code(), reason: r.text('reason') }
      break
  }
  r.end()
  return m
}

function malformed(reason: string): never {
  throw new ProtocolError('EMALFORMED', reason)
}

function toHexStr(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

class Reader {
  private pos = 0
  type = ''
  /** The frame as a Buffer (same memory), for hex without a temporary per id. */
  private readonly view: Buffer
  constructor(private readonly buf: Uint8Array) {
    this.view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  bad(reason: string): never {
    malformed(this.type ? `${this.type}: ${reason}` : reason)
  }
  /** Bytes not read yet (an optional trailing field is present when > 0). */
  get left(): number {
    return this.buf.length - this.pos
  }
  private need(n: number, what: string): void {
    if (n > this.buf.length - this.pos)
      this.bad(`truncated ${what} (needs ${n} bytes, ${this.buf.length - this.pos} left)`)
  }
  u8(what: string): number {
    this.need(1, what)
    return this.buf[this.pos++]!
  }
  uint(what: string): number {
    let v = 0
    let mul = 1
    for (let i = 0; i < 5; i++) {
      this.need(1, what)
      const b = this.buf[this.pos++]!
      v += (b & 0x7f) * mul
      if (b < 0x80) {
        if (b === 0 && i > 0) this.bad(`non-minimal varint in ${what}`)
        if (v > 0xffffffff) this.bad(`${what} exceeds 2^32-1`)
        return v
      }
      mul *= 128
    }
    return this.bad(`varint ${what} longer than 5 bytes`)
  }
  shard(): number {
    const v = this.uint('shard')
    if (v > LIMITS.maxShard) this.bad(`shard ${v} exceeds ${LIMITS.maxShard}`)
    return v
  }
  /** A count of items each taking at least `minItem` bytes, checked before allocating. */
  count(max: number, minItem: number, what: string): number {
    const n = this.uint(`${what} count`)
    if (n > max) this.bad(`${n} ${what} exceed the limit of ${max}`)
    if (n * minItem > this.buf.length - this.pos) this.bad(`${n} ${what} cannot fit in the frame`)
    return n
  }
  fixed(len: number, what: string): Uint8Array {
    this.need(len, what)
    const v = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return v
  }
  bytes(max: number, what: string): Uint8Array {
    const len = this.uint(`${what} length`)
    if (len > max) this.bad(`${what} of ${len} bytes exceeds the limit of ${max}`)
    return this.fixed(len, what)
  }
  text(what: string): string {
    const b = this.bytes(LIMITS.text, what)
    try {
      return strictUtf8.decode(b)
    } catch {
      return this.bad(`${what} is not valid UTF-8`)
    }
  }
  hex(len: number, what: string): string {
    this.need(len, what)
    this.pos += len
    return this.view.toString('hex', this.pos - len, this.pos)
  }
  role(): Role {
    const b = this.u8('role')
    return ROLES[b] ?? this.bad(`unknown role ${b}`)
  }
  code(): ProtocolErrorCode {
    const b = this.u8('error code')
    return ERROR_CODES[b] ?? this.bad(`unknown error code ${b}`)
  }
  entries(): Uint8Array[] {
    const n = this.count(LIMITS.members, 1, 'membership entries')
    const out = new Array<Uint8Array>(n)
    // Entries are kept (stored, forwarded): copy them out of the frame.
    for (let i = 0; i < n; i++) out[i] = this.bytes(LIMITS.entry, 'membership entry').slice()
    return out
  }
  end(): void {
    if (this.pos !== this.buf.length) this.bad(`${this.buf.length - this.pos} trailing bytes`)
  }
}
