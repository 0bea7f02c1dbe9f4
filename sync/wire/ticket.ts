/**
 * Invite tickets and join proofs (docs/PROTOCOL.md section 6).
 *
 * A ticket is what `bt invite` prints and `bt join` takes: `bt1` followed by
 * lower-case base32 (RFC 4648 alphabet, no padding) of a compact binary
 * record ending in a 4-byte SHA-256 checksum, so a mistyped ticket is caught
 * before anything is dialled. It carries the one-time secret: whoever holds
 * the ticket can join, once.
 *
 * The joiner proves it holds the secret without sending it: `joinProof` is an
 * HMAC-SHA256 keyed by the secret over a domain-separated message binding the
 * tree, the invite, the joiner and the inviter, so a proof is useless to
 * anyone else, for another invite or at another node.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { isId64, isInviteId, isTreeId, ROLES } from './codec.js'
import type { Role } from './messages.js'

/** What a ticket holds. */
export interface Ticket {
  /** Tree id (32 hex). */
  tree: string
  /** Inviter's node id (64 hex). */
  inviter: string
  /** Dial hints of the inviter (PeerAddress.addrs syntax), at most TICKET_LIMITS.addrs. */
  addrs: string[]
  /** Invite id: 8..16 bytes as lower-case hex. */
  invite: string
  /** One-time secret, 32 bytes. */
  secret: Uint8Array
  /** Role the invite grants. */
  role: Role
  /** Inviter's name of the tree (the joiner's default local name). */
  name?: string
  /** Runtime clock time (ms) after which the inviter refuses it. */
  expires?: number
}

export const TICKET_PREFIX = 'bt1'
export const TICKET_LIMITS = {
  /** Dial hints in one ticket. */
  addrs: 8,
  /** UTF-8 bytes of one dial hint. */
  addr: 255,
  /** UTF-8 bytes of the tree name. */
  name: 255,
} as const

/** A ticket that does not decode; the message starts with "invalid ticket: ". */
export class TicketError extends Error {
  override name = 'TicketError'
  readonly code = 'EINVAL'
  constructor(reason: string) {
    super(`invalid ticket: ${reason}`)
  }
}

const VERSION = 1
const CHECKSUM = 4
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const MAX_EXPIRES = 2 ** 48 - 1
const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Encode a ticket. RangeError on a field out of range (a local bug). */
export function encodeTicket(t: Ticket): string {
  if (!isTreeId(t.tree)) throw new RangeError('ticket: bad tree id')
  if (!isId64(t.inviter)) throw new RangeError('ticket: bad inviter node id')
  if (!isInviteId(t.invite)) throw new RangeError('ticket: bad invite id')
  if (!(t.secret instanceof Uint8Array) || t.secret.length !== 32)
    throw new RangeError('ticket: secret must be 32 bytes')
  const role = ROLES.indexOf(t.role)
  if (role < 0) throw new RangeError(`ticket: bad role ${String(t.role)}`)
  const expires = t.expires ?? 0
  if (!Number.isSafeInteger(expires) || expires < 0 || expires > MAX_EXPIRES)
    throw new RangeError('ticket: bad expiry')
  if (t.addrs.length > TICKET_LIMITS.addrs)
    throw new RangeError(`ticket: more than ${TICKET_LIMITS.addrs} addresses`)
  const out: number[] = [VERSION]
  const push = (b: Uint8Array) => {
    for (const x of b) out.push(x)
  }
  const text = (s: string, max: number, what: string) => {
    const b = utf8.encode(s)
    if (b.length > max) throw new RangeError(`ticket: ${what} longer than ${max} bytes`)
    out.push(b.length)
    push(b)
  }
  push(Buffer.from(t.tree, 'hex'))
  push(Buffer.from(t.inviter, 'hex'))
  const invite = Buffer.from(t.invite, 'hex')
  out.push(invite.length)
  push(invite)
  push(t.secret)
  out.push(role)
  for (let shift = 40; shift >= 0; shift -= 8) out.push(Math.floor(expires / 2 ** shift) & 0xff)
  text(t.name ?? '', TICKET_LIMITS.name, 'name')
  out.push(t.addrs.length)
  for (const a of t.addrs) text(a, TICKET_LIMITS.addr, 'address')
  const body = Uint8Array.from(out)
  const sum = createHash('sha256').update(body).digest().subarray(0, CHECKSUM)
  const all = new Uint8Array(body.length + CHECKSUM)
  all.set(body)
  all.set(sum, body.length)
  return TICKET_PREFIX + base32(all)
}

/** Decode a ticket (surrounding whitespace and letter case are ignored). Throws TicketError. */
export function decodeTicket(text: string): Ticket {
  if (typeof text !== 'string') throw new TicketError('not text')
  const s = text.trim().toLowerCase()
  if (!s.startsWith(TICKET_PREFIX)) throw new TicketError(`it does not start with "${TICKET_PREFIX}"`)
  const bytes = unbase32(s.slice(TICKET_PREFIX.length))
  if (bytes.length < 1 + CHECKSUM) throw new TicketError('too short')
  const body = bytes.subarray(0, bytes.length - CHECKSUM)
  const sum = createHash('sha256').update(body).digest().subarray(0, CHECKSUM)
  if (!timingSafeEqual(sum, bytes.subarray(body.length))) throw new TicketError('checksum mismatch')
  let p = 0
  const need = (n: number, what: string) => {
    if (p + n > body.length) throw new TicketError(`truncated ${what}`)
  }
  const take = (n: number, what: string) => {
    need(n, what)
    p += n
    return body.subarray(p - n, p)
  }
  const hex = (n: number, what: string) => Buffer.from(take(n, what)).toString('hex')
  const text8 = (max: number, what: string) => {
    const len = take(1, what)[0]!
    if (len > max) throw new TicketError(`${what} longer than ${max} bytes`)
    try {
      return strictUtf8.decode(take(len, what))
    } catch {
      throw new TicketError(`${what} is not valid UTF-8`)
    }
  }
  const version = take(1, 'version')[0]!
  if (version !== VERSION)
    throw new TicketError(`unsupported version ${version} (this node reads version ${VERSION})`)
  const tree = hex(16, 'tree id')
  const inviter = hex(32, 'inviter id')
  const inviteLen = take(1, 'invite id')[0]!
  if (inviteLen < 8 || inviteLen > 16) throw new TicketError(`invite id of ${inviteLen} bytes`)
  const invite = hex(inviteLen, 'invite id')
  const secret = take(32, 'secret').slice()
  const roleByte = take(1, 'role')[0]!
  const role = ROLES[roleByte]
  if (!role) throw new TicketError(`unknown role ${roleByte}`)
  let expires = 0
  for (const b of take(6, 'expiry')) expires = expires * 256 + b
  const name = text8(TICKET_LIMITS.name, 'tree name')
  const count = take(1, 'address count')[0]!
  if (count > TICKET_LIMITS.addrs)
    throw new TicketError(`${count} addresses (at most ${TICKET_LIMITS.addrs})`)
  const addrs: string[] = []
  for (let i = 0; i < count; i++) addrs.push(text8(TICKET_LIMITS.addr, 'address'))
  if (p !== body.length) throw new TicketError(`${body.length - p} trailing bytes`)
  const t: Ticket = { tree, inviter, addrs, invite, secret, role }
  if (name) t.name = name
  if (expires) t.expires = expires
  return t
}

function base32(b: Uint8Array): string {
  let out = ''
  let acc = 0
  let bits = 0
  for (const x of b) {
    acc = ((acc << 8) | x) & 0xffff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += ALPHABET[(acc >> bits) & 31]
    }
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31]
  return out
}

function unbase32(s: string): Uint8Array {
  const out = new Uint8Array(Math.floor((s.length * 5) / 8))
  let acc = 0
  let bits = 0
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const v = ALPHABET.indexOf(s[i]!)
    if (v < 0)
      throw new TicketError(
        `character ${JSON.stringify(s[i])} at position ${i + TICKET_PREFIX.length + 1} is not base32`,
      )
    acc = ((acc << 5) | v) & 0xffff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[n++] = (acc >> bits) & 0xff
    }
  }
  if (bits >= 5) throw new TicketError('wrong length (a character missing or extra?)')
  // Leftover bits are padding: zero in a well-formed ticket, so a mistyped last character shows here.
  if ((acc & ((1 << bits) - 1)) !== 0) throw new TicketError('checksum mismatch')
  return out
}

const PROOF_DOMAIN = 'blocktree/join-proof/v1\0'

function proofMessage(tree: string, invite: string, joiner: string, inviter: string): Uint8Array {
  if (!isTreeId(tree) || !isInviteId(invite) || !isId64(joiner) || !isId64(inviter))
    throw new RangeError('join proof: bad tree, invite or node id')
  const inv = Buffer.from(invite, 'hex')
  return Buffer.concat([
    Buffer.from(PROOF_DOMAIN),
    Buffer.from(tree, 'hex'),
    Buffer.from([inv.length]),
    inv,
    Buffer.from(joiner, 'hex'),
    Buffer.from(inviter, 'hex'),
  ])
}

/** The joiner's proof of holding the invite's secret (32 bytes; PROTOCOL.md 6.2). */
export function joinProof(
  secret: Uint8Array,
  tree: string,
  invite: string,
  joiner: string,
  inviter: string,
): Uint8Array {
  if (secret.length !== 32) throw new RangeError('join proof: secret must be 32 bytes')
  return new Uint8Array(
    createHmac('sha256', secret)
      .update(proofMessage(tree, invite, joiner, inviter))
      .digest(),
  )
}

/** Check a join proof in constant time; false (never a throw) for anything malformed. */
export function verifyJoinProof(
  secret: Uint8Array,
  proof: Uint8Array,
  ctx: { tree: string; invite: string; joiner: string; inviter: string },
): boolean {
  if (secret.length !== 32 || proof.length !== 32) return false
  let expected: Uint8Array
  try {
    expected = joinProof(secret, ctx.tree, ctx.invite, ctx.joiner, ctx.inviter)
  } catch {
    return false
  }
  return timingSafeEqual(expected, proof)
}
