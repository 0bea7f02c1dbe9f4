/**
 * The replication commands as the end-to-end tests use them: invite + join,
 * members, peers and per-tree sync status, each read through `--json`.
 */
import assert from 'node:assert/strict'
import type { BtNode } from './harness.js'

export type Role = 'admin' | 'writer' | 'reader' | 'server'

/** `bt invite TREE --role ROLE` on `inviter`: the ticket (alone on stdout). */
export async function invite(inviter: BtNode, tree: string, role: Role = 'writer'): Promise<string> {
  const out = await inviter.ok(['invite', tree, '--role', role])
  const ticket = out.trim()
  assert.ok(
    ticket.length > 0 && !/\s/.test(ticket),
    `bt invite printed more than a ticket: ${JSON.stringify(out)}`,
  )
  return ticket
}

/** Invite `joiner` into `inviter`'s `tree` and have it join (its local name: the inviter's). */
export async function joinAs(inviter: BtNode, joiner: BtNode, tree: string, role: Role): Promise<string> {
  const ticket = await invite(inviter, tree, role)
  await joiner.ok(['join', ticket], { timeoutMs: 90_000 })
  return ticket
}

export interface Member {
  node: string
  role: Role
  self: boolean
  connected: boolean
}

/** `bt tree members TREE --json`. */
export function treeMembers(n: BtNode, tree: string): Promise<Member[]> {
  return n.json<Member[]>(['tree', 'members', tree])
}

/** One peer as `bt peers --json` reports it (node/sync-api.ts PeerReport). */
export interface Peer {
  node: string
  transports: string[]
  trees: { tree: string; id: string; role: Role }[]
  rttMs?: number
  bytesIn: number
  bytesOut: number
  since: number
  connections: { transport: string; initiator: boolean; bytesIn: number; bytesOut: number }[]
}

/** `bt peers --json`. */
export async function peersOf(n: BtNode): Promise<Peer[]> {
  const out = await n.json<{ peers: Peer[] }>(['peers'])
  assert.ok(Array.isArray(out.peers), `bt peers --json without a peers array: ${JSON.stringify(out)}`)
  return out.peers
}

/** Per-tree sync state (node/sync-api.ts TreeSyncReport). */
export interface TreeSync {
  name: string
  id: string
  role: Role
  policy: 'all' | 'demand'
  peers: number
  state: 'synced' | 'syncing' | 'offline' | 'stopped'
  chunksWanted: number
  chunksReceived: number
  bytesIn: number
  bytesOut: number
  rateIn: number
  rateOut: number
}

/** `bt status --json`: the sync entry of tree `tree`. */
export async function syncStatus(n: BtNode, tree: string): Promise<TreeSync> {
  const s = await n.json<{ sync: { running: boolean; addresses: string[]; trees: TreeSync[] } }>(['status'])
  const t = s.sync?.trees.find((x) => x.name === tree)
  assert.ok(t, `${n.name}: bt status --json has no sync state for ${tree}: ${JSON.stringify(s)}`)
  return t
}
