/**
 * The node's tree registry (`<home>/node.db`): local name, global id, this
 * node's role, and the tree's content key wrapped by the node's wrap key
 * (AES-256-GCM, random nonce, the tree id as associated data, so a wrapped
 * key cannot be moved to another tree's row).
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import type { Random } from '../sync/runtime.js'
import type { TreeInfo, TreeRole } from './api-types.js'
import { rewrapInvites } from './invites.js'
import { NodeError } from './node-error.js'
import { migrateSyncTables, NODE_DB_VERSION } from './sync-schema.js'

const SCHEMA_VERSION = NODE_DB_VERSION
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/
const ROLES: readonly TreeRole[] = ['admin', 'writer', 'reader', 'server']

/**
 * Public fingerprint of a wrap key (16 hex chars of its SHA-256), recorded
 * both in the key file and in node.db, so that the two can be matched (and a
 * key rotation interrupted by a crash completed or undone) without unlocking.
 */
export function wrapKeyId(wrapKey: Uint8Array): string {
  return createHash('sha256').update(wrapKey).digest('hex').slice(0, 16)
}

/** Throws NodeError EBADNAME unless `name` is an acceptable local tree name. */
export function checkTreeName(name: string): void {
  if (!NAME_RE.test(name))
    throw new NodeError(
      'EBADNAME',
      JSON.stringify(name),
      'tree names are 1-64 letters, digits, ".", "_" or "-", not starting with "." or "-"',
    )
}

export interface TreeRecord extends TreeInfo {
  /** The tree's 32-byte content key (unwrapped). */
  key: Uint8Array
}

export class TreeRegistry {
  private readonly db: Database.Database

  constructor(
    file: string,
    private readonly wrapKey: Uint8Array,
    private readonly random: Random,
  ) {
    try {
      this.db = new Database(file, { timeout: 1000 })
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = FULL')
      const v = this.db.pragma('user_version', { simple: true }) as number
      if (v > SCHEMA_VERSION) throw new Error(`written by a newer bt (schema ${v})`)
      this.db.exec(`CREATE TABLE IF NOT EXISTS tree (
        name TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
        created INTEGER NOT NULL, wrapped_key BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS node_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`)
      if (v < SCHEMA_VERSION)
        this.db.transaction(() => {
          migrateSyncTables(this.db, v)
          this.db.pragma(`user_version = ${SCHEMA_VERSION}`)
        })()
    } catch (e) {
      throw new NodeError('ECORRUPT', file, `tree registry unreadable: ${(e as Error).message}`)
    }
    const id = wrapKeyId(wrapKey)
    const recorded = registryWrapId(this.db)
    if (recorded === undefined) this.setWrapId(id)
    else if (recorded !== id)
      throw new NodeError(
        'EKEY',
        file,
        'the tree keys here are wrapped by another node key than the one unlocked',
      )
  }

  /**
   * Re-wrap every tree key under `newWrapKey`, in one transaction that also
   * records the new key's fingerprint (docs/KEYS.md, rotation).
   */
  rewrapAll(newWrapKey: Uint8Array): number {
    const rows = this.rows()
    const update = this.db.prepare('UPDATE tree SET wrapped_key = ? WHERE name = ?')
    this.db.transaction(() => {
      for (const r of rows)
        update.run(
          wrapTreeKey(newWrapKey, this.random, this.unwrap(r.wrapped_key, r.id, r.name), r.id),
          r.name,
        )
      rewrapInvites(this.db, this.wrapKey, newWrapKey, () => this.random.bytes(12))
      this.setWrapId(wrapKeyId(newWrapKey))
    })()
    return rows.length
  }

  private setWrapId(id: string): void {
    this.db
      .prepare(
        "INSERT INTO node_meta (key, value) VALUES ('wrap_id', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(id)
  }

  list(): TreeInfo[] {
    return this.rows().map(({ name, id, role, created }) => ({ name, id, role: role as TreeRole, created }))
  }

  /** The record of a tree with its unwrapped key; NodeError ENOTREE if absent. */
  get(name: string): TreeRecord {
    const row = this.db.prepare('SELECT * FROM tree WHERE name = ?').get(name) as Row | undefined
    if (!row) throw new NodeError('ENOTREE', name, 'no such tree (see bt tree list)')
    if (!ROLES.includes(row.role as TreeRole) || !/^[0-9a-f]{32}$/.test(row.id))
      throw new NodeError('ECORRUPT', name, 'tree registry row is damaged')
    return {
      name: row.name,
      id: row.id,
      role: row.role as TreeRole,
      created: row.created,
      key: this.unwrap(row.wrapped_key, row.id, name),
    }
  }

  /** Register a new tree (fresh id and key unless given, e.g. on join). */
  add(
    name: string,
    created: number,
    opts: { id?: string; key?: Uint8Array; role?: TreeRole } = {},
  ): TreeRecord {
    checkTreeName(name)
    const id = opts.id ?? Buffer.from(this.random.bytes(16)).toString('hex')
    const key = opts.key ?? this.random.bytes(32)
    const role = opts.role ?? 'admin'
    try {
      this.db
        .prepare('INSERT INTO tree (name, id, role, created, wrapped_key) VALUES (?, ?, ?, ?, ?)')
        .run(name, id, role, created, this.wrap(key, id))
    } catch (e) {
      if ((e as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT'))
        throw new NodeError('ETREEEXISTS', name, 'a tree of that name already exists')
      throw e
    }
    return { name, id, role, created, key }
  }

  /** The node.db connection (the replication tables live beside the registry: node/sync-schema.ts). */
  get database(): Database.Database {
    return this.db
  }

  /** Record this node's role in a tree (it follows the membership log). */
  setRole(name: string, role: TreeRole): void {
    this.db.prepare('UPDATE tree SET role = ? WHERE name = ?').run(role, name)
  }

  close(): void {
    this.db.close()
  }

  private rows(): Row[] {
    return this.db.prepare('SELECT * FROM tree ORDER BY name').all() as Row[]
  }

  private wrap(key: Uint8Array, id: string): Buffer {
    return wrapTreeKey(this.wrapKey, this.random, key, id)
  }

  private unwrap(blob: Buffer, id: string, name: string): Uint8Array {
    try {
      if (blob.length !== 12 + 32 + 16) throw new Error('bad length')
      const d = createDecipheriv('aes-256-gcm', this.wrapKey, blob.subarray(0, 12))
      d.setAAD(Buffer.from(id))
      d.setAuthTag(blob.subarray(44))
      return new Uint8Array(Buffer.concat([d.update(blob.subarray(12, 44)), d.final()]))
    } catch {
      throw new NodeError('EKEY', name, 'the tree key cannot be unwrapped with this node key')
    }
  }
}

interface Row {
  name: string
  id: string
  role: string
  created: number
  wrapped_key: Buffer
}

/** The wrap-key fingerprint recorded in a registry database (undefined: none yet). */
function registryWrapId(db: Database.Database): string | undefined {
  const r = db.prepare("SELECT value FROM node_meta WHERE key = 'wrap_id'").get() as
    | { value: string }
    | undefined
  return r?.value
}

/** Read the wrap-key fingerprint of `<home>/node.db` without unlocking anything (undefined: no registry yet). */
export function readRegistryWrapId(file: string): string | undefined {
  let db: Database.Database | undefined
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
    return registryWrapId(db)
  } catch {
    return undefined
  } finally {
    db?.close()
  }
}

/** AES-256-GCM with a random nonce and the tree id as associated data: nonce || ciphertext || tag. */
function wrapTreeKey(wrapKey: Uint8Array, random: Random, key: Uint8Array, id: string): Buffer {
  const nonce = random.bytes(12)
  const c = createCipheriv('aes-256-gcm', wrapKey, nonce)
  c.setAAD(Buffer.from(id))
  return Buffer.concat([nonce, c.update(key), c.final(), c.getAuthTag()])
}
