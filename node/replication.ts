/**
 * Replication in a running daemon: the composition of the transports (iroh,
 * Hyperswarm), the member dialer and the sync engine, over the trees of a
 * `LocalNode`. It implements the node core's `Replicator` (node-sync.ts):
 * joining with a ticket, adding trees, peers, status and demand fetches.
 *
 * - Identity: the node's Ed25519 seed is the iroh secret key and seeds the
 *   Hyperswarm key pair, so a peer has one id on both transports.
 * - BT_NETWORK=loopback: iroh binds 127.0.0.1 / ::1 with no relays or
 *   discovery; Hyperswarm uses only the bootstrap nodes given (none: no DHT).
 * - iroh reuses the port of the previous run when it is free, so tickets
 *   issued before a restart still reach this node.
 */
import type { ChunkId } from '../store/types.js'
import type { AutomergePathTree } from '../sync/path-tree.js'
import { type MdnsDiscovery, mdnsEnabled, startMdns } from '../sync/peers/mdns.js'
import { createSyncEngine } from '../sync/replica/engine.js'
import type { JoinResult, PeerInfo, ReplicaTree, SyncEngine, TreeSyncStatus } from '../sync/replica/types.js'
import type { Runtime } from '../sync/runtime.js'
import type { NetworkMode } from '../sync/transport/network.js'
import type { Connection, Transport } from '../sync/transport/types.js'
import { ProtocolError } from '../sync/wire/messages.js'
import type { Ticket } from '../sync/wire/ticket.js'
import type { LocalNode } from './local-node.js'
import { MemberDialer } from './member-dialer.js'
import { NodeError } from './node-error.js'
import { loadTickets, type Replicator } from './node-sync.js'
import type { ReplicationConfig, TransportName } from './replication-config.js'

/** Chunks of pinned files asked for at once, and rounds (manifest levels) at most. */
const PIN_FETCHES = 8
const MAX_PIN_ROUNDS = 64

export interface ReplicationOptions {
  node: LocalNode
  config: ReplicationConfig & { network: NetworkMode }
  runtime: Runtime
  log: (line: string) => void
}

/** Start replication for every tree of `node` (transports that fail to start are logged and skipped). */
export async function startReplication(o: ReplicationOptions): Promise<Replication> {
  await loadTickets() // the engine redeems joins synchronously with it
  const r = new Replication(o)
  await r.start()
  return r
}

export class Replication implements Replicator {
  private readonly engine: SyncEngine
  private readonly transports: Transport[] = []
  private readonly dialer: MemberDialer
  private readonly trees = new Map<string, { name: string; members: () => string[]; replica: ReplicaTree }>()
  private evictTimer: { cancel(): void } | undefined
  private evicting = false
  private readonly topics = new Map<string, Uint8Array>()
  private mdns: MdnsDiscovery | undefined
  /** Open connections the engine holds (a join reuses one to the inviter). */
  private readonly conns = new Set<Connection>()
  private closed = false

  constructor(private readonly o: ReplicationOptions) {
    const sync = o.node.sync
    this.engine = createSyncEngine({
      nodeId: o.node.nodeId,
      runtime: o.runtime,
      invites: {
        redeem: (tree, invite, proof, joiner) => {
          const role = sync.redeem(tree, invite, proof, joiner)
          o.log(
            role
              ? `invite ${invite.slice(0, 8)} redeemed by ${joiner} as ${role} (tree ${tree})`
              : `refused join of ${joiner.slice(0, 8)} with invite ${invite.slice(0, 8)} (unknown, used, expired or not proven)`,
          )
          return role
        },
      },
      knownPeers: (tree) => this.knownPeers(tree),
      agent: `bt/${o.node.nodeId.slice(0, 8)}`,
      log: (line) => o.log(`sync: ${line}`),
    })
    this.engine.onEvent((e) => {
      const now = o.runtime.clock.now()
      if (e.type === 'addresses') {
        for (const p of e.peers)
          if (p.node !== o.node.nodeId) sync.peerStore.record(p.node, p.addrs, 'exchange', now)
        this.dialer.poke()
      } else if (e.type === 'chunk') this.scheduleEviction()
      else if (e.type === 'rejected') o.log(`refused ${e.node.slice(0, 8)}: ${e.code} ${e.reason}`)
      else if (e.type === 'peer-open')
        o.log(`peer ${e.node.slice(0, 8)} opened ${this.nameOf(e.tree)} over ${e.transport}`)
    })
    this.dialer = new MemberDialer({
      nodeId: o.node.nodeId,
      runtime: o.runtime,
      transports: () => this.transports,
      wanted: () => this.wantedPeers(),
      connected: () => new Set(this.engine.peers().map((p) => p.node)),
      // Keep a connection per transport: chunks prefer Hyperswarm when both run (DESIGN.md).
      connectedOver: () =>
        new Map(this.engine.peers().map((p) => [p.node, new Set(p.connections.map((c) => c.transport))])),
      addresses: (node) => this.addressesOf(node),
      attach: (conn) => this.attach(conn),
      log: o.log,
    })
  }

  async start(): Promise<void> {
    const want = new Set<TransportName>(this.o.config.transports ?? ['iroh', 'hyperswarm'])
    if (want.has('iroh')) await this.startIroh()
    if (want.has('hyperswarm')) await this.startHyperswarm()
    const addrs = this.addresses()
    this.o.node.sync.peerStore.setOwnAddresses(addrs)
    this.o.log(
      `replication: ${this.transports.map((t) => t.kind).join(' + ') || 'no transport'} (network ${this.o.config.network}); listening on ${addrs.join(' ') || '(nothing)'}`,
    )
    for (const t of await this.o.node.treeList()) {
      // One unreadable tree must not keep the others from replicating.
      await this.addTree(t.name).catch((e) =>
        this.o.log(`${t.name}: not replicated: ${(e as Error).message}`),
      )
    }
    const cache = this.o.node.sync.cache
    if (this.o.config.cacheSize !== undefined) cache.limit = this.o.config.cacheSize
    // Uses of cached chunks are saved at the next enforce (at most once a second).
    cache.onUse = () => this.scheduleEviction()
    this.scheduleEviction()
    this.dialer.start()
    await this.startMdns()
  }

  addresses(): string[] {
    return this.transports.flatMap((t) => t.addresses())
  }

  async addTree(name: string): Promise<void> {
    if (this.closed) return
    const node = this.o.node
    const sync = node.sync
    const rec = node.registryRecord(name)
    if (this.trees.has(rec.id)) return
    const volume = await node.volume(name)
    const membership = sync.membership(rec)
    const replica: ReplicaTree = {
      id: rec.id,
      name: rec.name,
      key: rec.key,
      tree: volume.tree as AutomergePathTree,
      store: volume.store,
      membership,
      fetchPolicy: () => sync.fetchPolicy(sync.roleOf(rec)),
      pinned: () => sync.pinned(rec, volume),
    }
    this.engine.addTree(replica)
    this.trees.set(rec.id, {
      name: rec.name,
      members: () => membership.members().map((m) => m.node),
      replica,
    })
    membership.onChange(() => this.dropRevoked(rec.id))
    for (const t of this.transports) {
      if (!t.join) continue
      const topic = await this.topicOf(rec.id)
      t.join(topic).catch((e) => this.o.log(`hyperswarm: cannot announce ${name}: ${(e as Error).message}`))
    }
    this.dialer.poke()
  }

  async join(ticket: Ticket, timeoutMs: number): Promise<JoinResult> {
    // Already connected to the inviter (another tree we share): the join goes over that link.
    const open = [...this.conns].find((c) => c.remoteId === ticket.inviter && !c.closed)
    const conn = open ?? (await this.reach(ticket, timeoutMs))
    try {
      return await this.engine.join(conn, { tree: ticket.tree, invite: ticket.invite, secret: ticket.secret })
    } catch (e) {
      if (!open) conn.close('join failed')
      if (e instanceof ProtocolError && (e.code === 'EINVITE' || e.code === 'ENOTREE'))
        throw new NodeError(
          'EINVITE',
          undefined,
          e.code === 'ENOTREE'
            ? 'the inviter does not replicate that tree any more'
            : 'the inviter refused the invitation (already used, expired, revoked or unknown)',
        )
      throw new NodeError('EUNREACHABLE', undefined, `the join did not complete: ${(e as Error).message}`)
    }
  }

  peers(): PeerInfo[] {
    return this.engine.peers()
  }

  status(tree: string): TreeSyncStatus | undefined {
    if (!this.trees.has(tree)) return undefined
    return this.engine.status(tree)
  }

  fetchChunk(tree: string, id: ChunkId): Promise<Uint8Array | undefined> {
    return this.engine.fetchChunk(tree, id)
  }

  pinsChanged(tree: string): void {
    void this.fetchPinned(tree).catch((e) => this.o.log(`pin: fetching failed: ${(e as Error).message}`))
  }

  /**
   * Fetch what the pins of an on-demand tree cover now, rather than at the
   * engine's next pass: missing ids (a missing manifest first, then what it
   * lists) are asked for a few at a time until none is left or a round
   * brings nothing (no peer has them; the engine's passes keep trying).
   */
  private async fetchPinned(tree: string): Promise<void> {
    const t = this.trees.get(tree)
    if (!t) return
    if (t.replica.fetchPolicy() !== 'demand') return
    for (let round = 0; round < MAX_PIN_ROUNDS && !this.closed; round++) {
      const ids = new Set<ChunkId>()
      for (const ref of t.replica.pinned?.() ?? [])
        for (const id of await t.replica.store.missing(ref)) ids.add(id)
      if (ids.size === 0) return
      const queue = [...ids]
      let got = 0
      const worker = async () => {
        for (let id = queue.pop(); id !== undefined && !this.closed; id = queue.pop())
          if (await this.engine.fetchChunk(tree, id)) got++
      }
      await Promise.all(Array.from({ length: PIN_FETCHES }, worker))
      if (got === 0) {
        this.o.log(`pin: ${ids.size} chunks of ${t.name} are on no connected peer yet`)
        return
      }
    }
  }

  /** Enforce the cache size of on-demand trees (coalesced: at most once a second). */
  private scheduleEviction(): void {
    if (this.evictTimer || this.closed) return
    this.evictTimer = this.o.runtime.timers.setTimeout(() => {
      this.evictTimer = undefined
      void this.evict()
    }, 1000)
  }

  private async evict(): Promise<void> {
    if (this.evicting || this.closed) return
    this.evicting = true
    try {
      const trees = [...this.trees.values()].map(({ replica: r }) => ({
        id: r.id,
        demand: r.fetchPolicy() === 'demand',
        store: r.store,
        pinned: () => r.pinned?.() ?? [],
      }))
      const r = await this.o.node.sync.cache.enforce(trees)
      if (r.evicted > 0)
        this.o.log(`cache: evicted ${r.evicted} chunks of on-demand trees (${r.before} -> ${r.after} bytes)`)
    } catch (e) {
      this.o.log(`cache: eviction failed: ${(e as Error).message}`)
    } finally {
      this.evicting = false
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.evictTimer?.cancel()
    const cache = this.o.node.sync.cache
    cache.onUse = undefined
    try {
      cache.flush()
    } catch (e) {
      this.o.log(`cache: saving chunk recency failed: ${(e as Error).message}`)
    }
    this.dialer.close()
    await this.mdns?.close()
    await this.engine.close()
    await Promise.allSettled(this.transports.map((t) => t.close()))
  }

  // ---- internals ----

  private attach(conn: Connection): void {
    if (this.closed) {
      conn.close('node shutting down')
      return
    }
    this.track(conn)
    this.engine.attach(conn)
  }

  private track(conn: Connection): void {
    this.conns.add(conn)
    conn.onClose(() => this.conns.delete(conn))
  }

  /**
   * Dial the inviter of a ticket over every transport at once; the first
   * connection wins. Hyperswarm looks the inviter up by its key and under the
   * tree's topic (PROTOCOL.md section 6), so a ticket without addresses, or
   * whose addresses no longer answer, still reaches an inviter that runs.
   */
  private async reach(ticket: Ticket, timeoutMs: number): Promise<Connection> {
    const peer = { node: ticket.inviter, addrs: ticket.addrs, topics: [await this.topicOf(ticket.tree)] }
    const usable = this.transports.filter(
      (t) => t.kind !== 'iroh' || peer.addrs.some((a) => a.startsWith('iroh:')),
    )
    if (usable.length === 0)
      throw new NodeError(
        'EUNREACHABLE',
        undefined,
        'the ticket has no address this node can dial (no common transport)',
      )
    let timer: { cancel(): void } | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = this.o.runtime.timers.setTimeout(
        () =>
          reject(
            new NodeError(
              'EUNREACHABLE',
              undefined,
              `the inviter did not answer within ${Math.round(timeoutMs / 1000)} s (is its node up? bt up)`,
            ),
          ),
        timeoutMs,
      )
    })
    const dials = usable.map((t) => t.dial(peer))
    try {
      const conn = await Promise.race([Promise.any(dials), timeout])
      this.track(conn)
      // Close the connections that lost the race.
      for (const d of dials)
        d.then(
          (c) => c !== conn && c.close('duplicate'),
          () => {},
        )
      return conn
    } catch (e) {
      for (const d of dials)
        d.then(
          (c) => c.close('join timed out'),
          () => {},
        )
      if (e instanceof NodeError) throw e
      const why =
        e instanceof AggregateError
          ? e.errors.map((x) => (x as Error).message).join('; ')
          : (e as Error).message
      throw new NodeError('EUNREACHABLE', undefined, `cannot reach the inviter: ${why}`)
    } finally {
      timer?.cancel()
    }
  }

  private wantedPeers(): Set<string> {
    const out = new Set<string>()
    for (const t of this.trees.values()) for (const n of t.members()) if (n !== this.o.node.nodeId) out.add(n)
    return out
  }

  private addressesOf(node: string): string[] {
    return (
      this.o.node.sync.peerStore.load(this.o.runtime.clock.now()).find((p) => p.node === node)?.addrs ?? []
    )
  }

  /** Addresses to share with a tree's members: this node's own, then other members' known ones. */
  private knownPeers(tree: string) {
    const self = this.o.node.nodeId
    const members = new Set(this.trees.get(tree)?.members() ?? [])
    const others = this.o.node.sync.peerStore
      .load(this.o.runtime.clock.now())
      .filter((p) => members.has(p.node) && p.node !== self)
    const own = this.addresses()
    return own.length ? [{ node: self, addrs: own }, ...others] : others
  }

  /** Revocation: close connections of nodes that are no longer members of any tree we share with them. */
  private dropRevoked(tree: string): void {
    const wanted = this.wantedPeers()
    for (const p of this.engine.peers())
      if (!wanted.has(p.node) && p.trees.every((t) => t.tree === tree))
        this.engine.disconnect(p.node, `removed from tree ${tree}`)
  }

  private nameOf(tree: string): string {
    return this.trees.get(tree)?.name ?? tree
  }

  private async topicOf(tree: string): Promise<Uint8Array> {
    const known = this.topics.get(tree)
    if (known) return known
    const { treeTopic } = await import('../sync/transport/topic.js')
    const t: Uint8Array = treeTopic(tree)
    this.topics.set(tree, t)
    return t
  }

  /**
   * LAN discovery: announce our dial hints (not the loopback ones, useless to
   * another host) and record announced peers in the address book, where the
   * member dialer finds them. Never under BT_NETWORK=loopback unless asked.
   */
  private async startMdns(): Promise<void> {
    if (!mdnsEnabled(this.o.config.network, this.o.config.mdns)) return
    const store = this.o.node.sync.peerStore
    try {
      this.mdns = await startMdns({
        nodeId: this.o.node.nodeId,
        addresses: () => this.addresses().filter((a) => !/^iroh:(127\.|\[::1\])/.test(a)),
        onPeer: (p) => {
          store.record(p.node, p.addrs, 'mdns', this.o.runtime.clock.now())
          this.dialer.poke()
        },
        timers: this.o.runtime.timers,
        log: (l) => this.o.log(l),
      })
      this.o.log('mdns: announcing and browsing _blocktree._udp.local')
    } catch (e) {
      // e.g. port 5353 taken by another responder: replication goes on without LAN discovery.
      this.o.log(`mdns: not started: ${(e as Error).message}`)
    }
  }

  private async startIroh(): Promise<void> {
    const { openIrohTransport } = await import('../sync/transport/iroh.js')
    const store = this.o.node.sync.peerStore
    const explicit = this.o.config.irohPort
    const last = store.port('iroh')
    const open = (port: number) =>
      openIrohTransport({
        seed: this.o.node.sync.seed,
        timers: this.o.runtime.timers,
        network: this.o.config.network,
        port,
        log: (l) => this.o.log(`iroh: ${l}`),
      })
    let t: Transport
    try {
      t = await open(explicit ?? last ?? 0)
    } catch (e) {
      if (explicit !== undefined || last === undefined) {
        this.o.log(`iroh: cannot start: ${(e as Error).message}`)
        return
      }
      this.o.log(
        `iroh: port ${last} of the last run is taken (${(e as Error).message}); using another: tickets issued before name the old one`,
      )
      try {
        t = await open(0)
      } catch (e2) {
        this.o.log(`iroh: cannot start: ${(e2 as Error).message}`)
        return
      }
    }
    const port = portOf(t.addresses())
    if (port) store.setPort('iroh', port)
    this.adopt(t)
  }

  private async startHyperswarm(): Promise<void> {
    try {
      const { openHyperswarmTransport } = await import('../sync/transport/hyperswarm.js')
      const t = await openHyperswarmTransport({
        seed: this.o.node.sync.seed,
        timers: this.o.runtime.timers,
        network: this.o.config.network,
        ...(this.o.config.bootstrap ? { bootstrap: this.o.config.bootstrap } : {}),
        log: (l: string) => this.o.log(`hyperswarm: ${l}`),
        onTopicPeer: (node: string, topic: Uint8Array) => this.onTopicPeer(node, topic),
      })
      this.adopt(t)
    } catch (e) {
      this.o.log(`hyperswarm: cannot start: ${(e as Error).message}`)
    }
  }

  /**
   * A Hyperswarm lookup found `node` announcing a tree's topic. Hyperswarm
   * connects to it by itself; a member is recorded in the address book
   * (reachable by key on the DHT) so the member dialer keeps it connected.
   * A node not (yet) a member here is only logged: if it was admitted while
   * we were away, its `open` proves it (PROTOCOL.md section 4).
   */
  private onTopicPeer(node: string, topic: Uint8Array): void {
    const hex = Buffer.from(topic).toString('hex')
    const tree = [...this.topics].find(([, t]) => Buffer.from(t).toString('hex') === hex)?.[0]
    const t = tree === undefined ? undefined : this.trees.get(tree)
    if (!t) return
    const member = t.members().includes(node)
    this.o.log(
      `hyperswarm: found ${node.slice(0, 8)} under the topic of ${t.name}${member ? '' : ' (not a member here yet)'}`,
    )
    if (!member) return
    this.o.node.sync.peerStore.record(node, [`hs:${node}`], 'topic', this.o.runtime.clock.now())
    this.dialer.poke()
  }

  private adopt(t: Transport): void {
    t.onConnection((conn) => this.attach(conn))
    this.transports.push(t)
  }
}

/** The port of the first `iroh:HOST:PORT` address. */
function portOf(addrs: string[]): number | undefined {
  for (const a of addrs) {
    const m = /^iroh:.*:(\d{1,5})$/.exec(a)
    if (m) return Number(m[1])
  }
  return undefined
}
