/**
 * The replication part of `NodeApi` (node/api-types.ts extends `SyncApi`):
 * invitations, joining, members, pins, peers and per-tree sync state. The
 * short-lived CLI (no daemon) answers everything from node.db and does no
 * networking: `join` then fails with EDAEMON, `peers` is empty and every tree
 * is 'stopped'.
 */
import type { TreeSyncStatus } from '../sync/replica/types.js'
import type { TreeInfo, TreeRole } from './api-types.js'

export interface InviteOptions {
  /** Role granted to the joiner (default 'writer'). */
  role?: TreeRole
  /** Validity from now, ms (default 7 days). */
  expiresInMs?: number
  /**
   * False: the ticket names no address; the joiner finds the inviter on the
   * Hyperswarm DHT, by its key and under the tree's topic (default true).
   */
  addresses?: boolean
}

export interface InviteResult {
  /** The ticket to hand to the joiner (`bt join TICKET`). */
  ticket: string
  tree: string
  /** Invite id (also inside the ticket). */
  invite: string
  role: TreeRole
  /** ms since epoch. */
  expires: number
  /** Whether a daemon runs now; the ticket can only be redeemed while one does. */
  reachable: boolean
}

export interface JoinOptions {
  /** Local name of the tree (default: the inviter's name). */
  name?: string
  /** Give up reaching the inviter after this long (default 30 s). */
  timeoutMs?: number
}

export interface MemberInfo {
  node: string
  role: TreeRole
  /** This node. */
  self: boolean
  /** A connection with this member has the tree open now. */
  connected: boolean
}

export interface PeerConnectionReport {
  transport: 'iroh' | 'hyperswarm' | 'memory'
  initiator: boolean
  /** ms since epoch. */
  since: number
  rttMs?: number
  bytesIn: number
  bytesOut: number
}

export interface PeerReport {
  node: string
  /** Transports of the live connections. */
  transports: string[]
  /** Trees open with this peer (local names) and its role in each. */
  trees: { tree: string; id: string; role: TreeRole }[]
  rttMs?: number
  bytesIn: number
  bytesOut: number
  /** Earliest live connection, ms since epoch. */
  since: number
  connections: PeerConnectionReport[]
}

export type TreeSyncState = 'synced' | 'syncing' | 'offline' | 'stopped'

/** A tree's sync state as the engine reports it (peers, chunks, bytes, rates), under its local name. */
export interface TreeSyncReport extends Omit<TreeSyncStatus, 'tree' | 'state'> {
  name: string
  id: string
  role: TreeRole
  /** 'all': every chunk kept; 'demand': fetched when read, plus pins. */
  policy: 'all' | 'demand'
  /** 'stopped': no daemon runs, nothing syncs. */
  state: TreeSyncState
}

export interface SyncStatusReport {
  /** Replication runs (a daemon serves the data dir). */
  running: boolean
  /** Dial hints this node advertises (`iroh:IP:PORT`, `hs:KEY`). */
  addresses: string[]
  trees: TreeSyncReport[]
}

export interface PinInfo {
  path: string
  created: number
}

export interface SyncApi {
  /** Issue a one-time invitation to a tree (admins only). */
  invite(tree: string, opts?: InviteOptions): Promise<InviteResult>
  /** Redeem a ticket: reach the inviter, prove the invite, add the tree and start syncing (needs the daemon). */
  join(ticket: string, opts?: JoinOptions): Promise<TreeInfo>
  members(tree: string): Promise<MemberInfo[]>
  /** Revoke a member (admins only): its connections are dropped, it gets nothing new. */
  removeMember(tree: string, node: string): Promise<void>
  peers(): Promise<PeerReport[]>
  syncStatus(): Promise<SyncStatusReport>
  /** Keep a path (a directory: everything below it) local; true when it was not pinned yet. */
  pin(tree: string, path: string): Promise<boolean>
  /** Undo `pin`; true when it was pinned. */
  unpin(tree: string, path: string): Promise<boolean>
  pins(tree: string): Promise<PinInfo[]>
}
