/**
 * The membership of a tree: a log of signed entries (add a node with a role,
 * remove a node) folded into node id -> role. docs/PROTOCOL.md section 5 is
 * the specification; in short:
 *
 * - The **genesis** is the tree creator's self-signed add of itself as admin.
 *   It is the root of trust: it comes first in every entry list a node sends,
 *   and a new member takes it from its inviter (trust on first use, over the
 *   connection the ticket named).
 * - Every other entry is ordered by (time, add before remove, entry id) and
 *   counts only if its signer is an admin in the fold of the entries before
 *   it. So the result depends only on the set of entries, never on the order
 *   they arrived in, and a remove wins over an add of the same node at the
 *   same time.
 * - A received entry gets a signature check only if its signer has been an
 *   admin (so nobody else can make us spend verifies); entries held already
 *   are skipped unverified. A batch is folded repeatedly while it makes new
 *   admins, so a log sent in fold order is taken whole; an entry whose grant
 *   has not arrived yet is dropped and counts when resent (peers resend their
 *   whole log). Verified entries that do not count wait in a bounded pool and
 *   are folded again when the log grows; only entries that count are
 *   persisted.
 */
import { createHash } from 'node:crypto'
import type { Membership } from './replica/types.js'
import type { Clock, Random } from './runtime.js'
import { isId64, isTreeId, ROLES, SIZES } from './wire/codec.js'
import { type Signer, verifySignature } from './wire/ed25519.js'
import type { Role } from './wire/messages.js'

/** Where a tree's entries are kept (node/ writes the SQLite one). */
export interface MemberLogStore {
  /** Every entry appended so far, in append order (the genesis first). */
  load(): Uint8Array[]
  /** Append entries durably. */
  append(entries: Uint8Array[]): void
}

/** A MemberLogStore in memory (tests, the simulator). */
export class MemoryMemberLogStore implements MemberLogStore {
  readonly rows: Uint8Array[] = []
  load(): Uint8Array[] {
    return this.rows.slice()
  }
  append(entries: Uint8Array[]): void {
    for (const e of entries) this.rows.push(e.slice())
  }
}

/** One decoded, signature-checked entry. */
export interface MemberEntry {
  tree: string
  op: 'add' | 'remove'
  node: string
  /** Role granted (add only). */
  role?: Role
  /** Signer (node id). */
  by: string
  /** Signer's clock, ms since the epoch. */
  time: number
  /** SHA-256 of the signed payload, hex: the entry's identity and tie-breaker. */
  id: string
  /** The encoded entry, as sent and stored. */
  bytes: Uint8Array
}

export type MembershipErrorCode = 'EINVAL' | 'EFORBIDDEN' | 'ENOENT' | 'ECORRUPT'

export class MembershipError extends Error {
  override name = 'MembershipError'
  constructor(
    readonly code: MembershipErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`)
  }
}

const FORMAT = 1
const OP_ADD = 0
const OP_REMOVE = 1
const SIG = 64
/** Signatures cover this prefix and the payload, so they mean nothing in another context. */
const DOMAIN = new TextEncoder().encode('blocktree/member-entry/v1\0')
/** Received entries waiting for their signer to become admin. */
const PENDING_MAX = 4096
/** Largest time an entry may carry (2^53-1: exact in a JS number). */
const MAX_TIME = Number.MAX_SAFE_INTEGER

/** Sign a new entry. */
export function signEntry(
  signer: Signer,
  e: { tree: string; op: 'add' | 'remove'; node: string; role?: Role; time: number; nonce: Uint8Array },
): Uint8Array {
  if (!isTreeId(e.tree)) throw new MembershipError('EINVAL', `bad tree id ${e.tree}`)
  if (!isId64(e.node)) throw new MembershipError('EINVAL', `bad node id ${e.node}`)
  if (!Number.isSafeInteger(e.time) || e.time < 0) throw new MembershipError('EINVAL', `bad time ${e.time}`)
  if (e.nonce.length !== 8) throw new MembershipError('EINVAL', 'nonce must be 8 bytes')
  const add = e.op === 'add'
  const payload = new Uint8Array(1 + SIZES.tree + 1 + 32 + (add ? 1 : 0) + 32 + 8 + 8)
  const v = new DataView(payload.buffer)
  let p = 0
  payload[p++] = FORMAT
  payload.set(Buffer.from(e.tree, 'hex'), p)
  p += SIZES.tree
  payload[p++] = add ? OP_ADD : OP_REMOVE
  payload.set(Buffer.from(e.node, 'hex'), p)
  p += 32
  if (add) {
    const r = ROLES.indexOf(e.role as Role)
    if (r < 0) throw new MembershipError('EINVAL', `bad role ${String(e.role)}`)
    payload[p++] = r
  }
  payload.set(Buffer.from(signer.nodeId, 'hex'), p)
  p += 32
  v.setBigUint64(p, BigInt(e.time))
  p += 8
  payload.set(e.nonce, p)
  const out = new Uint8Array(payload.length + SIG)
  out.set(payload)
  out.set(signer.sign(concat(DOMAIN, payload)), payload.length)
  return out
}

/** Decode an entry and check its signature; undefined when malformed or forged (never throws). */
export function decodeEntry(bytes: Uint8Array): MemberEntry | undefined {
  const e = parseEntry(bytes)
  return e && verifyEntry(e) ? e : undefined
}

/** Decode an entry without checking its signature (cheap: lets known entries be skipped unverified). */
function parseEntry(bytes: Uint8Array): MemberEntry | undefined {
  const addLen = 1 + SIZES.tree + 1 + 32 + 1 + 32 + 8 + 8 + SIG
  if (bytes.length !== addLen && bytes.length !== addLen - 1) return undefined
  if (bytes[0] !== FORMAT) return undefined
  const op = bytes[1 + SIZES.tree]
  if (op !== OP_ADD && op !== OP_REMOVE) return undefined
  const add = op === OP_ADD
  if (bytes.length !== (add ? addLen : addLen - 1)) return undefined
  const hex = (from: number, len: number) =>
    Buffer.from(bytes.buffer, bytes.byteOffset + from, len).toString('hex')
  let p = 1
  const tree = hex(p, SIZES.tree)
  p += SIZES.tree + 1
  const node = hex(p, 32)
  p += 32
  let role: Role | undefined
  if (add) {
    role = ROLES[bytes[p++]!]
    if (!role) return undefined
  }
  const by = hex(p, 32)
  p += 32
  const time = new DataView(bytes.buffer, bytes.byteOffset + p, 8).getBigUint64(0)
  if (time > BigInt(MAX_TIME)) return undefined
  p += 16
  const id = createHash('sha256').update(bytes.subarray(0, p)).digest('hex')
  return { tree, op: add ? 'add' : 'remove', node, role, by, time: Number(time), id, bytes }
}

function verifyEntry(e: MemberEntry): boolean {
  const split = e.bytes.length - SIG
  return verifySignature(e.by, concat(DOMAIN, e.bytes.subarray(0, split)), e.bytes.subarray(split))
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/** Fold order: time, then adds before removes (so a remove wins a tie), then entry id. */
function order(a: MemberEntry, b: MemberEntry): number {
  return (
    a.time - b.time ||
    (a.op === b.op ? 0 : a.op === 'add' ? -1 : 1) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  )
}

/**
 * Fold entries into roles: the genesis first, then `rest` in fold order, each
 * counting only if its signer is an admin at that point. Returns the roles
 * and the ids of the entries that counted.
 */
export function foldMembership(
  genesis: MemberEntry,
  rest: Iterable<MemberEntry>,
): { roles: Map<string, Role>; effective: Set<string>; everWriters: Set<string>; everAdmins: Set<string> } {
  const roles = new Map<string, Role>([[genesis.node, 'admin']])
  const effective = new Set<string>([genesis.id])
  const everWriters = new Set<string>([genesis.node])
  const everAdmins = new Set<string>([genesis.node])
  for (const e of [...rest].sort(order)) {
    if (e.id === genesis.id || roles.get(e.by) !== 'admin') continue
    if (e.op === 'add') {
      roles.set(e.node, e.role!)
      if (e.role !== 'reader') everWriters.add(e.node)
      if (e.role === 'admin') everAdmins.add(e.node)
    } else roles.delete(e.node)
    effective.add(e.id)
  }
  return { roles, effective, everWriters, everAdmins }
}

export interface MemberLogOptions {
  tree: string
  store: MemberLogStore
  clock: Clock
  random: Random
  /** This node's identity; without it the log is read-only here (add/remove throw). */
  signer?: Signer
}

/** The membership log of one tree (implements the engine's `Membership`). */
export class MemberLog implements Membership {
  readonly tree: string
  private readonly store: MemberLogStore
  private readonly clock: Clock
  private readonly random: Random
  private readonly signer?: Signer
  private readonly genesisEntry: MemberEntry
  /** Persisted entries other than the genesis, by id. */
  private readonly kept = new Map<string, MemberEntry>()
  /** Received entries that do not count (yet), by id, oldest first. */
  private readonly pending = new Map<string, MemberEntry>()
  private roles = new Map<string, Role>()
  private everWriters = new Set<string>()
  private everAdmins = new Set<string>()
  private sorted: Uint8Array[] | undefined
  private readonly listeners = new Set<() => void>()

  private constructor(o: MemberLogOptions, genesis: MemberEntry) {
    this.tree = o.tree
    this.store = o.store
    this.clock = o.clock
    this.random = o.random
    this.signer = o.signer
    this.genesisEntry = genesis
  }

  /** Start the log of a new tree: the genesis makes the signer its first admin. */
  static create(o: MemberLogOptions & { signer: Signer }): MemberLog {
    if (o.store.load().length > 0)
      throw new MembershipError('EINVAL', `tree ${o.tree} already has a membership log`)
    const bytes = signEntry(o.signer, {
      tree: o.tree,
      op: 'add',
      node: o.signer.nodeId,
      role: 'admin',
      time: o.clock.now(),
      nonce: o.random.bytes(8),
    })
    o.store.append([bytes])
    const log = new MemberLog(o, decodeEntry(bytes)!)
    log.refold()
    return log
  }

  /** Open a stored log (its first entry is the genesis); ECORRUPT if it is not one. */
  static open(o: MemberLogOptions): MemberLog {
    const rows = o.store.load()
    if (rows.length === 0) throw new MembershipError('ENOENT', `no membership log for tree ${o.tree}`)
    const genesis = asGenesis(o.tree, rows[0]!)
    if (!genesis)
      throw new MembershipError('ECORRUPT', `the first membership entry of tree ${o.tree} is not its genesis`)
    const log = new MemberLog(o, genesis)
    for (const row of rows.slice(1)) {
      const e = decodeEntry(row)
      if (!e || e.tree !== o.tree)
        throw new MembershipError('ECORRUPT', `a stored membership entry of tree ${o.tree} is invalid`)
      log.kept.set(e.id, e)
    }
    log.refold()
    return log
  }

  /**
   * Start the log of a joined tree from the inviter's entries (`welcome`):
   * the first one must be the genesis, trusted because the inviter named in
   * the ticket sent it. EINVAL if it is not a genesis of this tree.
   */
  static fromWelcome(o: MemberLogOptions, entries: Uint8Array[]): MemberLog {
    if (o.store.load().length > 0)
      throw new MembershipError('EINVAL', `tree ${o.tree} already has a membership log`)
    const genesis = entries[0] && asGenesis(o.tree, entries[0])
    if (!genesis)
      throw new MembershipError('EINVAL', 'the member list does not start with the genesis of this tree')
    o.store.append([genesis.bytes])
    const log = new MemberLog(o, genesis)
    log.refold()
    log.merge(entries.slice(1))
    return log
  }

  /** The tree creator's node id. */
  get creator(): string {
    return this.genesisEntry.node
  }

  roleOf(node: string): Role | undefined {
    return this.roles.get(node)
  }

  /** Whether `node` held a writing role at some point of the fold (its old changes stay acceptable). */
  everWriter(node: string): boolean {
    return this.everWriters.has(node)
  }

  members(): { node: string; role: Role }[] {
    return [...this.roles].map(([node, role]) => ({ node, role })).sort((a, b) => (a.node < b.node ? -1 : 1))
  }

  /** The genesis, then every persisted entry in fold order. */
  entries(): Uint8Array[] {
    // Asked for on every channel each time the log grows: sorted once per change.
    this.sorted ??= [this.genesisEntry.bytes, ...[...this.kept.values()].sort(order).map((e) => e.bytes)]
    return this.sorted.slice()
  }

  /**
   * The entries that make `node` a member: the genesis, its adds and,
   * transitively, the adds of their signers, in fold order. Sent with `open`
   * so a replica that has not heard of `node` yet can check its membership
   * (PROTOCOL.md section 4). Empty when `node` is not a member here.
   */
  proof(node: string): Uint8Array[] {
    if (!this.roles.has(node)) return []
    const adds = new Map<string, MemberEntry[]>()
    for (const e of this.kept.values()) if (e.op === 'add') adds.set(e.node, [...(adds.get(e.node) ?? []), e])
    const seen = new Set([node])
    const queue = [node]
    const out: MemberEntry[] = []
    for (let n = queue.pop(); n !== undefined; n = queue.pop())
      for (const e of adds.get(n) ?? []) {
        out.push(e)
        if (!seen.has(e.by)) {
          seen.add(e.by)
          queue.push(e.by)
        }
      }
    return [this.genesisEntry.bytes, ...out.sort(order).map((e) => e.bytes)]
  }

  merge(entries: Uint8Array[]): { added: number; rejected: number } {
    let rejected = 0
    let candidates = new Map<string, MemberEntry>()
    for (const bytes of entries) {
      const e = parseEntry(bytes)
      if (!e || e.tree !== this.tree) {
        rejected++
        continue
      }
      // Peers resend the whole log: what is known (by the id of its signed bytes) is skipped unverified.
      if (e.id === this.genesisEntry.id || this.kept.has(e.id) || this.pending.has(e.id)) continue
      // Keyed with the signature too: a forged copy must not shadow the genuine entry.
      candidates.set(e.id + Buffer.from(bytes.subarray(bytes.length - SIG)).toString('hex'), e)
    }
    // Only entries by nodes that have been admins are worth a signature check: anyone
    // else's cannot count, and verifying them would let any peer burn our CPU. A
    // batch may grant admin to a signer of another entry in it: repeat until no progress.
    let added = 0
    const fresh: string[] = []
    for (;;) {
      const next = new Map<string, MemberEntry>()
      let progressed = false
      for (const [key, e] of candidates) {
        if (!this.everAdmins.has(e.by)) next.set(key, e)
        else if (this.pending.has(e.id) || this.kept.has(e.id)) continue
        else if (!verifyEntry(e)) rejected++
        else {
          this.pending.set(e.id, e)
          fresh.push(e.id)
          progressed = true
        }
      }
      candidates = next
      if (!progressed) break
      added += this.promote()
    }
    // Signed by a node that was never an admin here: dropped unverified.
    rejected += candidates.size
    // Verified but not counting (signed after the signer lost its admin role): waiting, not added.
    for (const id of fresh) if (this.pending.has(id)) rejected++
    return { added, rejected }
  }

  /** Add a node (or change its role), signed by this node; EFORBIDDEN unless this node is an admin. */
  add(node: string, role: Role): Uint8Array | undefined {
    if (!isId64(node)) throw new MembershipError('EINVAL', `bad node id ${node}`)
    if (!ROLES.includes(role)) throw new MembershipError('EINVAL', `bad role ${String(role)}`)
    const signer = this.mustBeAdmin()
    if (this.roles.get(node) === role) return undefined
    if (node === signer.nodeId && role !== 'admin') this.mustKeepAnAdmin(node)
    return this.append('add', node, role)
  }

  /** Remove a member, signed by this node; EFORBIDDEN unless this node is an admin, ENOENT for a non-member. */
  remove(node: string): Uint8Array {
    if (!isId64(node)) throw new MembershipError('EINVAL', `bad node id ${node}`)
    this.mustBeAdmin()
    if (!this.roles.has(node))
      throw new MembershipError('ENOENT', `${node} is not a member of tree ${this.tree}`)
    this.mustKeepAnAdmin(node)
    return this.append('remove', node)
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private mustBeAdmin(): Signer {
    if (!this.signer) throw new MembershipError('EFORBIDDEN', 'this log has no signing key')
    if (this.roles.get(this.signer.nodeId) !== 'admin')
      throw new MembershipError('EFORBIDDEN', `only an admin of tree ${this.tree} can change its members`)
    return this.signer
  }

  private mustKeepAnAdmin(leaving: string): void {
    if (this.roles.get(leaving) !== 'admin') return
    for (const [n, r] of this.roles) if (r === 'admin' && n !== leaving) return
    throw new MembershipError('EINVAL', `${leaving} is the last admin of tree ${this.tree}`)
  }

  private append(op: 'add' | 'remove', node: string, role?: Role): Uint8Array {
    // Later than every entry known, so it is ordered after what this admin has seen.
    let latest = this.genesisEntry.time
    for (const e of this.kept.values()) latest = Math.max(latest, e.time)
    const time = Math.max(this.clock.now(), latest + 1)
    const bytes = signEntry(this.signer!, {
      tree: this.tree,
      op,
      node,
      role,
      time,
      nonce: this.random.bytes(8),
    })
    const e = decodeEntry(bytes)!
    this.pending.set(e.id, e)
    this.promote()
    return bytes
  }

  /** Fold kept + pending; persist pending entries that now count. Returns how many did. */
  private promote(): number {
    const { effective } = foldMembership(this.genesisEntry, [...this.kept.values(), ...this.pending.values()])
    const now: MemberEntry[] = []
    for (const [id, e] of this.pending) {
      if (!effective.has(id)) continue
      now.push(e)
      this.pending.delete(id)
    }
    while (this.pending.size > PENDING_MAX) this.pending.delete(this.pending.keys().next().value!)
    if (now.length > 0) {
      this.store.append(now.map((e) => e.bytes))
      for (const e of now) this.kept.set(e.id, e)
      this.refold()
      this.notify()
    }
    return now.length
  }

  private refold(): void {
    this.sorted = undefined
    const f = foldMembership(this.genesisEntry, this.kept.values())
    this.roles = f.roles
    this.everWriters = f.everWriters
    this.everAdmins = f.everAdmins
  }

  /** Listeners hear of every new persisted entry (peers need the entries, not only changed roles). */
  private notify(): void {
    for (const l of [...this.listeners]) {
      try {
        l()
      } catch {
        // A listener's failure is its own; the log has changed either way.
      }
    }
  }
}

/** The entry as the genesis of `tree`: a self-signed add of its signer as admin. */
function asGenesis(tree: string, bytes: Uint8Array): MemberEntry | undefined {
  const e = decodeEntry(bytes)
  if (!e || e.tree !== tree || e.op !== 'add' || e.role !== 'admin' || e.by !== e.node) return undefined
  return e
}
