/**
 * `NodeSync`: the replication state of a node kept in node.db — membership
 * logs, issued invitations, pins, known peer addresses — and the `SyncApi`
 * calls over it. It does no networking itself: while a daemon runs, its
 * `Replicator` (node/replication.ts) is attached and does the dialing,
 * joining and syncing; without one, `join` fails with ENOTRUNNING and every
 * tree reports 'stopped'.
 */
import type { ChunkId } from '../store/types.js'
import {
  MemberLog,
  type MemberLogOptions,
  type MemberLogStore,
  MembershipError,
  MemoryMemberLogStore,
} from '../sync/membership.js'
import type { JoinResult, PeerInfo, TreeSyncStatus } from '../sync/replica/types.js'
import type { Runtime } from '../sync/runtime.js'
import { type Signer, signerFromSeed } from '../sync/wire/ed25519.js'
import type { Role } from '../sync/wire/messages.js'
import type { Ticket } from '../sync/wire/ticket.js'
import type { TreeInfo, TreeRole } from './api-types.js'
import { ChunkCache } from './chunk-cache.js'
import { SqliteRecencyStore } from './chunk-recency.js'
import { InviteStore } from './invites.js'
import { SqliteMemberLogStore } from './members.js'
import { NodeError } from './node-error.js'
import { PeerStore } from './peer-store.js'
import { PinStore, pinnedRefs } from './pins.js'
import type {
  InviteOptions,
  InviteResult,
  JoinOptions,
  MemberInfo,
  PeerReport,
  PinInfo,
  SyncApi,
  SyncStatusReport,
  TreeSyncReport,
} from './sync-api.js'
import type { TreeRecord, TreeRegistry } from './trees.js'
import type { TreeVolume } from './volume.js'

type TicketModule = typeof import('../sync/wire/ticket.js')
let ticketModule: TicketModule | undefined
/** The ticket codec, loaded on first use (the CLI's other commands never need it). */
export async function loadTickets(): Promise<TicketModule> {
  ticketModule ??= await import('../sync/wire/ticket.js')
  return ticketModule
}

const DAY_MS = 86_400_000
const DEFAULT_EXPIRY_MS = 7 * DAY_MS
const MAX_EXPIRY_MS = 365 * DAY_MS
const DEFAULT_JOIN_TIMEOUT_MS = 30_000
/** Dial hints put in a ticket at most. */
const MAX_HINTS = 8

/** What the daemon's replication offers the node core (implemented by node/replication.ts). */
export interface Replicator {
  /** Dial hints others can use to reach this node now. */
  addresses(): string[]
  /** Reach the inviter named by a ticket and redeem it (NodeError EUNREACHABLE / EINVITE). */
  join(ticket: Ticket, timeoutMs: number): Promise<JoinResult>
  /** Start replicating a tree that was just created or joined. */
  addTree(name: string): Promise<void>
  peers(): PeerInfo[]
  status(tree: string): TreeSyncStatus | undefined
  fetchChunk(tree: string, id: ChunkId): Promise<Uint8Array | undefined>
  /** The pins of a tree changed: fetch what is pinned now. */
  pinsChanged(tree: string): void
}

export interface NodeSyncOptions {
  registry: TreeRegistry
  nodeId: string
  /** Ed25519 identity seed: signs membership entries. */
  seed: Uint8Array
  wrapKey: Uint8Array
  runtime: Runtime
  /** The volume of a tree by local name (opened on first use). */
  volume: (name: string) => Promise<TreeVolume>
}

export class NodeSync implements SyncApi {
  readonly invites: InviteStore
  readonly pinStore: PinStore
  readonly peerStore: PeerStore
  /** The cache of on-demand trees (limits set and enforced by the daemon's replication). */
  readonly cache = new ChunkCache()
  private readonly logs = new Map<string, MemberLog>()
  private replicator: Replicator | undefined
  private readonly signer: Signer

  constructor(private readonly o: NodeSyncOptions) {
    this.signer = signerFromSeed(o.seed)
    const db = o.registry.database
    this.invites = new InviteStore(db, o.wrapKey, o.runtime)
    this.pinStore = new PinStore(db)
    this.peerStore = new PeerStore(db)
    this.cache.persist(new SqliteRecencyStore(db))
  }

  get nodeId(): string {
    return this.o.nodeId
  }

  /** The Ed25519 identity seed (the transports' key; only the daemon's replication asks for it). */
  get seed(): Uint8Array {
    return this.o.seed
  }

  /** The daemon attaches its replication while it runs (undefined: detached). */
  setReplicator(r: Replicator | undefined): void {
    this.replicator = r
  }

  /**
   * The membership of a tree (by global id), loaded from node.db. A tree this
   * node registered as admin with no log yet (created before replication
   * existed, or by `tree create`) gets its genesis entry now.
   */
  membership(rec: TreeRecord): MemberLog {
    let log = this.logs.get(rec.id)
    if (log) return log
    const store = new SqliteMemberLogStore(this.o.registry.database, rec.id)
    const opts = this.logOptions(rec.id, store)
    try {
      if (store.count() > 0) log = MemberLog.open(opts)
      else if (rec.role === 'admin') log = MemberLog.create({ ...opts, signer: this.signer })
      else
        throw new MembershipError(
          'ENOENT',
          'no membership log (joined trees receive theirs from the inviter)',
        )
    } catch (e) {
      throw new NodeError('ECORRUPT', rec.name, `membership of the tree: ${(e as Error).message}`)
    }
    this.watch(rec, log)
    return log
  }

  private logOptions(tree: string, store: MemberLogStore): MemberLogOptions {
    return { tree, store, clock: this.o.runtime.clock, random: this.o.runtime.random, signer: this.signer }
  }

  private watch(rec: TreeRecord, log: MemberLog): void {
    log.onChange(() => this.followRole(rec.name, rec.id))
    this.logs.set(rec.id, log)
  }

  /** A tree was created here: replicate it at once when the daemon runs. */
  async treeAdded(name: string): Promise<void> {
    await this.replicator?.addTree(name)
  }

  /** A chunk a read needs and this node lacks: ask peers (no daemon: nothing to ask, undefined). */
  fetchChunk(treeId: string, id: ChunkId): Promise<Uint8Array | undefined> {
    return this.replicator ? this.replicator.fetchChunk(treeId, id) : Promise.resolve(undefined)
  }

  /** The fetch policy of a tree by local name. */
  policyOf(name: string): 'all' | 'demand' {
    return this.fetchPolicy(this.roleOf(this.o.registry.get(name)))
  }

  /** 'all' for admins, writers and servers; 'demand' for readers. */
  fetchPolicy(role: TreeRole): 'all' | 'demand' {
    return role === 'reader' ? 'demand' : 'all'
  }

  /** Files whose chunks stay local under 'demand'. */
  pinned(rec: TreeRecord, volume: TreeVolume) {
    const paths = this.pinStore.list(rec.id).map((p) => p.path)
    return pinnedRefs(volume.tree, paths)
  }

  /** The current role of this node in a tree (membership first, else the registry's record). */
  roleOf(rec: TreeRecord): TreeRole {
    return this.membership(rec).roleOf(this.o.nodeId) ?? rec.role
  }

  async invite(tree: string, opts: InviteOptions = {}): Promise<InviteResult> {
    const rec = this.o.registry.get(tree)
    const members = this.membership(rec)
    if (members.roleOf(this.o.nodeId) !== 'admin')
      throw new NodeError('EPERM', tree, 'only admins of a tree can invite (see bt tree members)')
    const role = (opts.role ?? 'writer') as Role
    const ttl = opts.expiresInMs ?? DEFAULT_EXPIRY_MS
    if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > MAX_EXPIRY_MS)
      throw new NodeError('EBADNAME', tree, 'an invitation expires after 1 s to 365 days')
    const expires = this.o.runtime.clock.now() + ttl
    const { invite, secret } = this.invites.issue(rec.id, role, expires)
    const addrs = opts.addresses === false ? [] : this.hints()
    const { encodeTicket } = await loadTickets()
    const ticket = encodeTicket({
      tree: rec.id,
      inviter: this.o.nodeId,
      addrs,
      invite: invite.id,
      secret,
      role,
      name: rec.name,
      expires,
    })
    return {
      ticket,
      tree: rec.name,
      invite: invite.id,
      role,
      expires,
      reachable: this.replicator !== undefined,
    }
  }

  /** The InviteBook the engine redeems joins with. */
  redeem(treeId: string, inviteId: string, proof: Uint8Array, joiner: string): Role | undefined {
    const t = this.o.registry.list().find((x) => x.id === treeId)
    if (!t) return undefined
    const log = this.membership(this.o.registry.get(t.name))
    // An admin that lost its role since issuing the invite cannot add anyone: refuse, invite unused.
    if (log.roleOf(this.o.nodeId) !== 'admin') return undefined
    // The daemon loads the ticket module before it accepts connections (setReplicator).
    const verify = ticketModule?.verifyJoinProof
    if (!verify) return undefined
    const r = this.invites.redeem(treeId, inviteId, joiner, (secret) =>
      verify(secret, proof, { tree: treeId, invite: inviteId, joiner, inviter: this.o.nodeId }),
    )
    if ('refused' in r) return undefined
    if (log.roleOf(joiner) !== r.role) log.add(joiner, r.role)
    return r.role
  }

  async join(ticketText: string, opts: JoinOptions = {}): Promise<TreeInfo> {
    const { decodeTicket } = await loadTickets()
    let ticket: Ticket
    try {
      ticket = decodeTicket(ticketText)
    } catch (e) {
      const m = (e as Error).message
      throw new NodeError('ETICKET', undefined, m.startsWith('invalid ticket') ? m : `invalid ticket: ${m}`)
    }
    const existing = this.o.registry.list().find((t) => t.id === ticket.tree)
    if (existing)
      throw new NodeError(
        'ETREEEXISTS',
        existing.name,
        `this node already replicates that tree as ${existing.name}`,
      )
    const name = opts.name ?? ticket.name ?? `tree-${ticket.tree.slice(0, 8)}`
    if (this.o.registry.list().some((t) => t.name === name))
      throw new NodeError(
        'ETREEEXISTS',
        name,
        'a tree of that name already exists (choose another with --name)',
      )
    if (ticket.inviter === this.o.nodeId)
      throw new NodeError('EINVITE', name, 'this ticket was issued by this node')
    const r = this.replicator
    if (!r)
      throw new NodeError('ENOTRUNNING', name, 'joining needs the node running: bt up --detach, then bt join')
    const result = await r.join(ticket, opts.timeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS)
    if (result.tree !== ticket.tree)
      throw new NodeError('EINVITE', name, 'the inviter answered for another tree')
    try {
      // Check the member list (it must start with the tree's genesis) before anything is recorded.
      MemberLog.fromWelcome(this.logOptions(result.tree, new MemoryMemberLogStore()), result.members)
    } catch (e) {
      throw new NodeError(
        'EINVITE',
        name,
        `the inviter sent an unusable member list: ${(e as Error).message}`,
      )
    }
    // The tree and its member list are recorded together or not at all (one node.db transaction).
    const { rec, log } = this.o.registry.database.transaction(() => {
      const rec = this.o.registry.add(name, this.o.runtime.clock.now(), {
        id: result.tree,
        key: result.key,
        role: result.role,
      })
      const store = new SqliteMemberLogStore(this.o.registry.database, rec.id)
      return { rec, log: MemberLog.fromWelcome(this.logOptions(rec.id, store), result.members) }
    })()
    this.watch(rec, log)
    this.peerStore.record(ticket.inviter, ticket.addrs, 'ticket', this.o.runtime.clock.now())
    await r.addTree(name)
    const { key: _k, ...info } = rec
    return { ...info, role: this.roleOf(rec) }
  }

  async members(tree: string): Promise<MemberInfo[]> {
    const rec = this.o.registry.get(tree)
    const open = new Set<string>()
    for (const p of this.replicator?.peers() ?? [])
      if (p.trees.some((t) => t.tree === rec.id)) open.add(p.node)
    return this.membership(rec)
      .members()
      .map((m) => ({
        node: m.node,
        role: m.role,
        self: m.node === this.o.nodeId,
        connected: open.has(m.node),
      }))
  }

  async removeMember(tree: string, node: string): Promise<void> {
    const rec = this.o.registry.get(tree)
    const log = this.membership(rec)
    if (log.roleOf(this.o.nodeId) !== 'admin')
      throw new NodeError('EPERM', tree, 'only admins of a tree can remove members')
    if (node === this.o.nodeId) throw new NodeError('EPERM', tree, 'a node cannot remove itself')
    if (log.roleOf(node) === undefined) throw new NodeError('ENOTMEMBER', tree, `${node} is not a member`)
    try {
      log.remove(node)
    } catch (e) {
      if (e instanceof MembershipError)
        throw new NodeError('EPERM', tree, e.message.replace(/^E[A-Z]+: /, ''))
      throw e
    }
  }

  async peers(): Promise<PeerReport[]> {
    const r = this.replicator
    if (!r) return []
    const names = new Map(this.o.registry.list().map((t) => [t.id, t.name]))
    return r.peers().map((p) => {
      const conns = p.connections
      const rtts = conns.map((c) => c.rttMs).filter((x): x is number => x !== undefined)
      const report: PeerReport = {
        node: p.node,
        transports: [...new Set(conns.map((c) => c.transport))],
        trees: p.trees.map((t) => ({ tree: names.get(t.tree) ?? t.tree, id: t.tree, role: t.role })),
        bytesIn: conns.reduce((n, c) => n + c.bytesIn, 0),
        bytesOut: conns.reduce((n, c) => n + c.bytesOut, 0),
        since: conns.length ? Math.min(...conns.map((c) => c.since)) : 0,
        connections: conns.map((c) => ({ ...c })),
      }
      if (rtts.length) report.rttMs = Math.min(...rtts)
      return report
    })
  }

  async syncStatus(): Promise<SyncStatusReport> {
    const r = this.replicator
    const trees: TreeSyncReport[] = this.o.registry.list().map((t) => {
      const rec = this.o.registry.get(t.name)
      const role = this.roleOf(rec)
      const s = r?.status(t.id)
      const base: TreeSyncReport = {
        name: t.name,
        id: t.id,
        role,
        policy: this.fetchPolicy(role),
        peers: s?.peers ?? 0,
        state: r ? (s?.state ?? 'offline') : 'stopped',
        chunksWanted: s?.chunksWanted ?? 0,
        chunksReceived: s?.chunksReceived ?? 0,
        bytesIn: s?.bytesIn ?? 0,
        bytesOut: s?.bytesOut ?? 0,
        rateIn: s?.rateIn ?? 0,
        rateOut: s?.rateOut ?? 0,
      }
      if (s?.lastActivity !== undefined) base.lastActivity = s.lastActivity
      return base
    })
    return { running: r !== undefined, addresses: r?.addresses() ?? [], trees }
  }

  async pin(tree: string, path: string): Promise<boolean> {
    const rec = this.o.registry.get(tree)
    checkTreePath(path, tree)
    const changed = this.pinStore.add(rec.id, path, this.o.runtime.clock.now())
    this.replicator?.pinsChanged(rec.id)
    return changed
  }

  async unpin(tree: string, path: string): Promise<boolean> {
    const rec = this.o.registry.get(tree)
    checkTreePath(path, tree)
    return this.pinStore.remove(rec.id, path)
  }

  async pins(tree: string): Promise<PinInfo[]> {
    return this.pinStore.list(this.o.registry.get(tree).id)
  }

  /**
   * Where others can reach this node: the live addresses, else those of the
   * last run. A joiner also finds the inviter under the tree's Hyperswarm
   * topic, which it derives from the tree id in the ticket.
   */
  private hints(): string[] {
    const live = this.replicator?.addresses()
    return (live?.length ? live : this.peerStore.ownAddresses()).slice(0, MAX_HINTS)
  }

  /** Keep the registry's role in step with the membership log (bt tree list shows it). */
  private followRole(name: string, id: string): void {
    const log = this.logs.get(id)
    const role = log?.roleOf(this.o.nodeId)
    if (role) {
      try {
        this.o.registry.setRole(name, role)
      } catch {
        // The registry may be closing; the log stays the source of truth.
      }
    }
  }
}

function checkTreePath(path: string, tree: string): void {
  if (!path.startsWith('/') || path.includes('\0'))
    throw new NodeError('EBADNAME', tree, `not an absolute path in the tree: ${JSON.stringify(path)}`)
}
