/**
 * Contracts of replication: what the sync engine needs of a tree replica,
 * and what it offers the node (daemon), the peer manager and the simulator.
 *
 * - The engine (`sync/replica/engine.ts`) runs the protocol of
 *   docs/PROTOCOL.md on `Connection`s it is given: hello, channels per tree,
 *   membership exchange, per-shard Automerge sync, chunk want/have/data,
 *   gossip of local changes, anti-entropy. It never dials.
 * - The peer manager (`sync/peers/`) decides whom to be connected to (members
 *   of the trees we replicate, at addresses from tickets, peer exchange,
 *   Hyperswarm topics and mDNS), dials through `Transport`s, reconnects with
 *   backoff, and hands every connection to `engine.attach`.
 * Both take time, randomness and timers from the injected `Runtime`, so
 * `bt sim` replays a run from its seed.
 */
import type { ChunkId, ContentStore, FileRef } from '../../store/types.js'
import type { AutomergePathTree } from '../path-tree.js'
import type { Runtime } from '../runtime.js'
import type { Connection, PeerAddress, TransportKind } from '../transport/types.js'
import type { ProtocolErrorCode, Role } from '../wire/messages.js'

/**
 * The membership of one tree as this node knows it: a log of signed entries
 * (sync/membership.ts) folded into node id -> role.
 */
export interface Membership {
  /** Current role of a node, undefined for non-members and removed members. */
  roleOf(node: string): Role | undefined
  /** Current members and their roles. */
  members(): { node: string; role: Role }[]
  /** Every signed entry, encoded (sent to peers). */
  entries(): Uint8Array[]
  /**
   * Merge entries received from a peer. Entries with a bad signature, or
   * signed by a node that was not an admin when it signed, are dropped (and
   * counted in the return value's `rejected`), never thrown.
   */
  merge(entries: Uint8Array[]): { added: number; rejected: number }
  /** Called after local or merged changes. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void
  /**
   * Optional: whether `node` held a writing role (writer, admin, server) at
   * any point of the log. The engine accepts changes by such authors too, so
   * the history of a writer removed later still syncs to new replicas
   * (PROTOCOL.md, Security notes). Without it only current roles count.
   */
  everWriter?(node: string): boolean
  /**
   * Optional: the entries that make `node` a member here (its adds and its
   * signers' adds back to the genesis). Sent with `open`, so a member that
   * joined while the acceptor was away is still let in (PROTOCOL.md section 4).
   */
  proof?(node: string): Uint8Array[]
}

/** Redeems invitations on the inviting node (secrets never leave it). */
export interface InviteBook {
  /**
   * Check a join proof from `joiner` for invite `invite` of tree `tree`; on
   * success the invite is used up (one-time), the joiner is added to the
   * tree's membership with the granted role (an entry signed by this node,
   * before this returns: the joiner's `open` follows at once), and the role
   * is returned.
   */
  redeem(tree: string, invite: string, proof: Uint8Array, joiner: string): Role | undefined
}

/** What a new member receives when its join is accepted. */
export interface JoinResult {
  tree: string
  /** The inviter's local name of the tree. */
  name: string
  role: Role
  /** The tree's 32-byte content key. */
  key: Uint8Array
  /** Signed membership entries (feed them to the new Membership). */
  members: Uint8Array[]
}

/** A tree replica as the engine sees it. */
export interface ReplicaTree {
  /** Global tree id (32 hex). */
  id: string
  /** Local name (told to joiners as the default name). */
  name: string
  /** Content key (given to joiners whose invite proves out). */
  key: Uint8Array
  tree: AutomergePathTree
  store: ContentStore
  membership: Membership
  /**
   * Which chunks this node keeps: 'all' fetches every chunk of every file
   * version in the current tree (writers, admins, servers); 'demand' fetches
   * chunks when a read needs them, plus those of `pinned()`.
   */
  fetchPolicy(): 'all' | 'demand'
  /** Files whose chunks must stay local under 'demand' (bt pin). */
  pinned?(): Iterable<FileRef>
}

/** One live connection to a peer. */
export interface ConnectionInfo {
  transport: TransportKind
  initiator: boolean
  /** When it was established (runtime clock, ms). */
  since: number
  /** Last measured round trip (ping/pong), ms. */
  rttMs?: number
  bytesIn: number
  bytesOut: number
}

export interface PeerInfo {
  node: string
  connections: ConnectionInfo[]
  /** Trees open with this peer and the peer's role in each. */
  trees: { tree: string; role: Role }[]
}

export interface TreeSyncStatus {
  tree: string
  /** Peers with this tree open now. */
  peers: number
  /** 'synced': no shard has anything to send or receive with any open peer; 'offline': no peer. */
  state: 'synced' | 'syncing' | 'offline'
  /** Chunks asked for and not yet received. */
  chunksWanted: number
  chunksReceived: number
  bytesIn: number
  bytesOut: number
  /** Bytes per second in and out over the last few seconds. */
  rateIn: number
  rateOut: number
  /** Runtime clock time of the last change received or sent, if any. */
  lastActivity?: number
}

export type EngineEvent =
  | { type: 'peer-open'; node: string; tree: string; transport: TransportKind }
  | { type: 'peer-close'; node: string; tree?: string; reason: string }
  /** Remote changes were applied to a tree (after the view is updated). */
  | { type: 'remote-change'; tree: string; from: string; inodes: number }
  | { type: 'chunk'; tree: string; id: ChunkId; from: string; bytes: number }
  /** A frame or channel was refused (counted in stats().rejected). */
  | { type: 'rejected'; node: string; code: ProtocolErrorCode; reason: string }
  /** Peer exchange: addresses learned from a peer (the peer manager listens). */
  | { type: 'addresses'; tree: string; peers: PeerAddress[] }

export interface EngineStats {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  /** Frames/channels refused, by ProtocolErrorCode. */
  rejected: Record<string, number>
}

export interface SyncEngineOptions {
  nodeId: string
  runtime: Runtime
  /** Invitations this node issued (absent: joins are refused with EINVITE). */
  invites?: InviteBook
  /** Where the engine gets addresses to share in peer exchange. */
  knownPeers?: (tree: string) => PeerAddress[]
  /** Anti-entropy period: a full shard-summary + sync round with one random peer per tree (default 30 s). */
  antiEntropyMs?: number
  /** A demand fetch gives up after this long (default 20 s); the read then fails with EIO. */
  fetchTimeoutMs?: number
  /** A chunk asked of one peer and not answered within this long is asked of another (default fetchTimeoutMs / 2). */
  chunkTimeoutMs?: number
  /** Agent string sent in hello. */
  agent?: string
  log?: (line: string) => void
}

export interface SyncEngine {
  addTree(t: ReplicaTree): void
  removeTree(id: string): void
  /**
   * Run the protocol on a connection, inbound or outbound: hello, then a
   * channel for every tree both sides replicate and the remote is a member
   * of. From here on the engine owns the connection (it closes it on a
   * protocol error, on revocation and on `close()`).
   */
  attach(conn: Connection): void
  /** Join a tree through a connection to the inviter (hello, join, welcome). */
  join(conn: Connection, invite: { tree: string; invite: string; secret: Uint8Array }): Promise<JoinResult>
  /** Close every connection to a node (e.g. after it was removed from a tree it was open on). */
  disconnect(node: string, reason: string): void
  /** Fetch one chunk from peers that have the tree open (store `fetchMissing`); undefined on timeout. */
  fetchChunk(tree: string, id: ChunkId): Promise<Uint8Array | undefined>
  peers(): PeerInfo[]
  status(tree: string): TreeSyncStatus
  stats(): EngineStats
  onEvent(listener: (e: EngineEvent) => void): () => void
  close(): Promise<void>
}
