/**
 * Invitations this node issued (`bt invite`), in node.db's `invite` table.
 *
 * The one-time secret goes into the ticket and never leaves this node
 * otherwise. The join proof is an HMAC keyed by the secret (sync/wire/ticket.ts),
 * so the verifier needs the secret itself, not only a hash of it: it is kept
 * wrapped by the node's wrap key (AES-256-GCM, the invite id as associated
 * data), like tree content keys, plus a SHA-256 fingerprint for listings.
 *
 * An invite is used up by its first successful redemption. The same joiner
 * redeeming it again (its `welcome` was lost with the connection) gets the
 * same answer; any other node is refused.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto'
import type Database from 'better-sqlite3'
import type { Runtime } from '../sync/runtime.js'
import type { Role } from '../sync/wire/messages.js'

const ROLES: readonly Role[] = ['admin', 'writer', 'reader', 'server']

/** One issued invitation (without its secret). */
export interface IssuedInvite {
  id: string
  tree: string
  role: Role
  created: number
  /** ms since epoch after which it is refused. */
  expires?: number
  usedBy?: string
  usedAt?: number
}

/** Why a redemption was refused (for the log; the joiner only learns EINVITE). */
export type RedeemRefusal = 'unknown' | 'wrong-tree' | 'expired' | 'used' | 'bad-proof'

interface Row {
  id: string
  tree: string
  secret: Buffer
  secret_hash: string
  role: string
  created: number
  expires: number | null
  used_by: string | null
  used_at: number | null
}

export class InviteStore {
  constructor(
    private readonly db: Database.Database,
    private readonly wrapKey: Uint8Array,
    private readonly runtime: Runtime,
  ) {}

  /** Record a new invitation; returns it with its fresh 32-byte secret and 16-byte id. */
  issue(tree: string, role: Role, expires?: number): { invite: IssuedInvite; secret: Uint8Array } {
    const id = Buffer.from(this.runtime.random.bytes(16)).toString('hex')
    const secret = this.runtime.random.bytes(32)
    const created = this.runtime.clock.now()
    this.db
      .prepare(
        'INSERT INTO invite (id, tree, secret, secret_hash, role, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(id, tree, this.wrap(secret, id), fingerprint(secret), role, created, expires ?? null)
    const invite: IssuedInvite = { id, tree, role, created }
    if (expires !== undefined) invite.expires = expires
    return { invite, secret }
  }

  get(id: string): IssuedInvite | undefined {
    const r = this.row(id)
    return r ? toInvite(r) : undefined
  }

  /** Invitations of a tree (all trees when omitted), oldest first. */
  list(tree?: string): IssuedInvite[] {
    const rows = (
      tree === undefined
        ? this.db.prepare('SELECT * FROM invite ORDER BY created, id').all()
        : this.db.prepare('SELECT * FROM invite WHERE tree = ? ORDER BY created, id').all(tree)
    ) as Row[]
    return rows.map(toInvite)
  }

  /**
   * Check and use up invitation `id` of `tree` for `joiner`. `verify` checks
   * the joiner's proof against the secret. Atomic: of two joiners racing
   * for one invite exactly one wins.
   */
  redeem(
    tree: string,
    id: string,
    joiner: string,
    verify: (secret: Uint8Array) => boolean,
  ): { role: Role } | { refused: RedeemRefusal } {
    return this.db.transaction((): { role: Role } | { refused: RedeemRefusal } => {
      const r = this.row(id)
      if (!r || !ROLES.includes(r.role as Role)) return { refused: 'unknown' }
      if (r.tree !== tree) return { refused: 'wrong-tree' }
      const secret = this.unwrap(r.secret, id)
      if (!secret || !verify(secret)) return { refused: 'bad-proof' }
      if (r.used_by !== null) return r.used_by === joiner ? { role: r.role as Role } : { refused: 'used' }
      const now = this.runtime.clock.now()
      if (r.expires !== null && now > r.expires) return { refused: 'expired' }
      this.db.prepare('UPDATE invite SET used_by = ?, used_at = ? WHERE id = ?').run(joiner, now, id)
      return { role: r.role as Role }
    })()
  }

  private row(id: string): Row | undefined {
    return this.db.prepare('SELECT * FROM invite WHERE id = ?').get(id) as Row | undefined
  }

  private wrap(secret: Uint8Array, id: string): Buffer {
    return wrapSecret(this.wrapKey, this.runtime.random.bytes(12), secret, id)
  }

  private unwrap(blob: Buffer, id: string): Uint8Array | undefined {
    return unwrapSecret(this.wrapKey, blob, id)
  }
}

/**
 * Re-wrap every invitation secret under a new wrap key (key rotation,
 * docs/KEYS.md; runs inside the registry's rotation transaction). Secrets
 * that no longer unwrap are left as they are: those invites are refused.
 */
export function rewrapInvites(
  db: Database.Database,
  oldKey: Uint8Array,
  newKey: Uint8Array,
  nonce: () => Uint8Array,
): void {
  const rows = db.prepare('SELECT id, secret FROM invite').all() as { id: string; secret: Buffer }[]
  const update = db.prepare('UPDATE invite SET secret = ? WHERE id = ?')
  for (const r of rows) {
    const secret = unwrapSecret(oldKey, r.secret, r.id)
    if (secret) update.run(wrapSecret(newKey, nonce(), secret, r.id), r.id)
  }
}

function wrapSecret(key: Uint8Array, nonce: Uint8Array, secret: Uint8Array, id: string): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce)
  c.setAAD(Buffer.from(`invite:${id}`))
  return Buffer.concat([nonce, c.update(secret), c.final(), c.getAuthTag()])
}

function unwrapSecret(key: Uint8Array, blob: Buffer, id: string): Uint8Array | undefined {
  try {
    if (blob.length < 12 + 16) return undefined
    const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12))
    d.setAAD(Buffer.from(`invite:${id}`))
    d.setAuthTag(blob.subarray(blob.length - 16))
    return new Uint8Array(Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]))
  } catch {
    return undefined
  }
}

function fingerprint(secret: Uint8Array): string {
  return createHash('sha256').update(secret).digest('hex')
}

function toInvite(r: Row): IssuedInvite {
  const i: IssuedInvite = { id: r.id, tree: r.tree, role: r.role as Role, created: r.created }
  if (r.expires !== null) i.expires = r.expires
  if (r.used_by !== null) i.usedBy = r.used_by
  if (r.used_at !== null) i.usedAt = r.used_at
  return i
}
