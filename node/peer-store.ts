/**
 * The persisted half of the address book (node.db `peer_addr`) and this
 * node's listening ports (`node_meta`). A restarted daemon loads the
 * addresses its peers were last reached at and redials them, and binds iroh
 * to the port it had before, so tickets it issued stay valid.
 */
import type Database from 'better-sqlite3'
import type { PeerAddress } from '../sync/transport/types.js'

/** Addresses not seen for this long are dropped on load. */
const MAX_AGE_MS = 30 * 24 * 3600 * 1000
/** Addresses kept per node (most recently seen first). */
const MAX_PER_NODE = 16
const NODE_RE = /^[0-9a-f]{64}$/

export interface StoredAddress {
  node: string
  addr: string
  /** Where it was learned: 'ticket', 'exchange', 'topic', 'mdns', 'inbound', ... */
  source: string
  lastSeen: number
}

export class PeerStore {
  constructor(private readonly db: Database.Database) {}

  /** Record (or refresh) addresses of a node. */
  record(node: string, addrs: readonly string[], source: string, now: number): void {
    if (!NODE_RE.test(node)) return
    const put = this.db.prepare(
      `INSERT INTO peer_addr (node, addr, source, last_seen) VALUES (?, ?, ?, ?)
       ON CONFLICT(node, addr) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), source = excluded.source`,
    )
    this.db.transaction(() => {
      for (const a of addrs) if (a.length > 0 && a.length <= 512) put.run(node, a, source, now)
      // Keep the newest few per node so a peer hopping between networks cannot grow the table.
      this.db
        .prepare(
          `DELETE FROM peer_addr WHERE node = ? AND addr NOT IN
           (SELECT addr FROM peer_addr WHERE node = ? ORDER BY last_seen DESC, addr LIMIT ?)`,
        )
        .run(node, node, MAX_PER_NODE)
    })()
  }

  /** Every known node with its addresses (newest first), dropping entries older than 30 days. */
  load(now: number): PeerAddress[] {
    this.db.prepare('DELETE FROM peer_addr WHERE last_seen < ?').run(now - MAX_AGE_MS)
    const rows = this.db
      .prepare('SELECT node, addr FROM peer_addr ORDER BY node, last_seen DESC, addr')
      .all() as { node: string; addr: string }[]
    const out: PeerAddress[] = []
    for (const r of rows) {
      const last = out[out.length - 1]
      if (last && last.node === r.node) last.addrs.push(r.addr)
      else out.push({ node: r.node, addrs: [r.addr] })
    }
    return out
  }

  list(): StoredAddress[] {
    return (
      this.db
        .prepare('SELECT node, addr, source, last_seen FROM peer_addr ORDER BY node, last_seen DESC')
        .all() as { node: string; addr: string; source: string; last_seen: number }[]
    ).map((r) => ({ node: r.node, addr: r.addr, source: r.source, lastSeen: r.last_seen }))
  }

  forget(node: string): void {
    this.db.prepare('DELETE FROM peer_addr WHERE node = ?').run(node)
  }

  /** The dial hints this node advertised when its daemon last ran (for tickets issued while it is down). */
  ownAddresses(): string[] {
    const r = this.db.prepare("SELECT value FROM node_meta WHERE key = 'own_addrs'").get() as
      | { value: string }
      | undefined
    try {
      const v = r ? (JSON.parse(r.value) as unknown) : []
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
    } catch {
      return []
    }
  }

  setOwnAddresses(addrs: readonly string[]): void {
    this.meta('own_addrs', JSON.stringify(addrs))
  }

  /** The port a transport listened on last time (undefined: never). */
  port(transport: string): number | undefined {
    const r = this.db.prepare('SELECT value FROM node_meta WHERE key = ?').get(`port.${transport}`) as
      | { value: string }
      | undefined
    const n = r ? Number(r.value) : Number.NaN
    return Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined
  }

  setPort(transport: string, port: number): void {
    this.meta(`port.${transport}`, String(port))
  }

  private meta(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO node_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value)
  }
}
