/**
 * One simulated node: the real node core (a memory `TreeVolume`, the sync
 * engine, the membership log, the member dialer) on the simulator's runtime
 * and transport. A crash keeps only what a disk would have kept: the SQLite
 * image as of the last committed transaction (path tree, history, retention)
 * and the chunk store; open files, staged writes, uncommitted document
 * changes, sync states and connections are lost. A restart reopens from that
 * image with fresh randomness (a new Automerge actor), like a new process.
 */
import Database from 'better-sqlite3'
import { MemberDialer } from '../node/member-dialer.js'
import { openMemoryVolume } from '../node/open-tree.js'
import type { TreeVolume } from '../node/volume.js'
import { MemoryChunkBackend } from '../store/index.js'
import { MemberLog, type MemoryMemberLogStore } from '../sync/membership.js'
import type { AutomergePathTree } from '../sync/path-tree.js'
import { createSyncEngine, type Engine } from '../sync/replica/engine.js'
import type { InviteBook, Membership, ReplicaTree } from '../sync/replica/types.js'
import type { Signer } from '../sync/wire/ed25519.js'
import type { Role } from '../sync/wire/messages.js'
import { type SimNet, type SimTransport, simAddress } from './net.js'
import { Rng } from './rng.js'
import type { NodeRuntime, Scheduler } from './scheduler.js'

/** The one tree every simulated node replicates. */
export interface SimTree {
  id: string
  name: string
  key: Uint8Array
}

/** A deliberately broken merge (tests prove the invariants catch it). */
export type Breakage = 'none' | 'stale-view' | 'keep-removed'

export interface SimNodeInit {
  index: number
  signer: Signer
  seed: number | string
  sched: Scheduler
  net: SimNet
  tree: SimTree
  /** The membership log's durable store (survives crashes). */
  memberStore: MemoryMemberLogStore
  /** Nodes this one dials (the others dial it, or nobody does). */
  neighbors: () => string[]
  invites?: InviteBook
  antiEntropyMs: number
  fetchTimeoutMs: number
  breakage?: Breakage
  /** Called on engine events worth a timeline mark. */
  onRemoteChange?: (node: SimNode) => void
}

interface Image {
  db: Buffer
  backend: MemoryChunkBackend
}

export class SimNode {
  readonly id: string
  readonly index: number
  up = false
  incarnation = 0
  volume: TreeVolume | undefined
  tree: AutomergePathTree | undefined
  engine: Engine | undefined
  membership: MemberLog | undefined
  transport: SimTransport | undefined
  private db: Database.Database | undefined
  private backend: MemoryChunkBackend | undefined
  private dialer: MemberDialer | undefined
  private rt: NodeRuntime | undefined
  private image: Image | undefined
  private joinAttempts = 0
  /** Virtual time of the last change this node's view took (local or remote). */
  lastChange = 0
  /** Frames and bytes of engines of earlier incarnations (stats() restart at zero). */
  private pastStats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 }

  constructor(private readonly o: SimNodeInit) {
    this.id = o.signer.nodeId
    this.index = o.index
  }

  /** Role in this node's own view of the membership. */
  role(): Role | undefined {
    return this.membership?.roleOf(this.id)
  }

  /** Start (or restart after a crash) from the durable image, if any. */
  async start(): Promise<void> {
    if (this.up) return
    this.incarnation++
    const o = this.o
    const rng = new Rng(o.seed, `node:${o.index}:${this.incarnation}`)
    const rt = o.sched.runtime(this.id, rng)
    this.rt = rt
    this.backend = this.image ? this.image.backend.clone() : new MemoryChunkBackend()
    this.db = this.image ? new Database(this.image.db) : new Database(':memory:')
    const engine = createSyncEngine({
      nodeId: this.id,
      runtime: rt,
      ...(o.invites ? { invites: o.invites } : {}),
      knownPeers: () => [],
      antiEntropyMs: o.antiEntropyMs,
      fetchTimeoutMs: o.fetchTimeoutMs,
      agent: `bt-sim/${o.index}`,
    })
    this.engine = engine
    const volume = await openMemoryVolume({
      nodeId: this.id,
      key: o.tree.key,
      runtime: rt,
      uid: 0,
      gid: 0,
      backend: this.backend,
      database: this.db,
      fetchMissing: (id) => engine.fetchChunk(o.tree.id, id),
    })
    this.volume = volume
    this.tree = volume.tree as AutomergePathTree
    if (o.breakage === 'stale-view') breakView(this.tree)
    this.tree.onChange(() => {
      this.lastChange = o.sched.now()
    })
    this.membership = MemberLog.open({
      tree: o.tree.id,
      store: o.memberStore,
      clock: rt.clock,
      random: rt.random,
      signer: o.signer,
    })
    const replica: ReplicaTree = {
      id: o.tree.id,
      name: o.tree.name,
      key: o.tree.key,
      tree: this.tree,
      store: volume.store,
      membership: o.breakage === 'keep-removed' ? keepRemoved(this.membership) : this.membership,
      fetchPolicy: () => 'all',
    }
    engine.addTree(replica)
    engine.onEvent((e) => {
      if (e.type === 'remote-change') o.onRemoteChange?.(this)
    })
    const transport = o.net.transport(this.id, rng)
    this.transport = transport
    transport.onConnection((c) => engine.attach(c))
    const membership = this.membership
    this.dialer = new MemberDialer({
      nodeId: this.id,
      runtime: rt,
      transports: () => [transport],
      wanted: () => o.neighbors().filter((n) => membership.roleOf(n) !== undefined),
      connected: () => new Set(engine.peers().map((p) => p.node)),
      addresses: (n) => [simAddress(n)],
      attach: (c) => engine.attach(c),
      log: () => {},
    })
    this.dialer.start()
    this.up = true
  }

  /**
   * Join through an invitation, the real way: dial the inviter, run the
   * engine's join (proof, welcome), start the membership log from the
   * welcome, then start as a member. Rejects when the inviter is unreachable
   * or refuses.
   */
  async join(inviter: string, invite: { tree: string; invite: string; secret: Uint8Array }): Promise<void> {
    if (this.up || this.o.memberStore.load().length > 0)
      throw new Error(`node ${this.index} is already a member`)
    const o = this.o
    const rng = new Rng(o.seed, `join:${o.index}:${++this.joinAttempts}`)
    const rt = o.sched.runtime(this.id, rng)
    const engine = createSyncEngine({ nodeId: this.id, runtime: rt, fetchTimeoutMs: o.fetchTimeoutMs })
    const transport = o.net.transport(this.id, rng)
    try {
      const conn = await transport.dial({ node: inviter, addrs: [simAddress(inviter)] })
      const result = await engine.join(conn, invite)
      MemberLog.fromWelcome(
        { tree: o.tree.id, store: o.memberStore, clock: rt.clock, random: rt.random, signer: o.signer },
        result.members,
      )
    } finally {
      await engine.close().catch(() => {})
      await transport.close()
      rt.kill()
    }
    await this.start()
  }

  /**
   * Crash: keep the durable image, drop everything else without a word to
   * anyone (connections vanish, timers never fire).
   */
  crash(): void {
    if (!this.up) return
    this.image = { db: this.db!.serialize(), backend: this.backend!.clone() }
    this.up = false
    this.rt!.kill()
    this.transport!.kill()
    this.dialer!.close()
    const engine = this.engine!
    const volume = this.volume!
    this.engine = undefined
    this.volume = undefined
    this.tree = undefined
    this.transport = undefined
    // Release the dead incarnation's memory; its connections are gone, so it reaches no one.
    this.addPast(engine)
    void engine
      .close()
      .catch(() => {})
      .then(() => volume.close())
      .catch(() => {})
  }

  /** Stop for good (a node leaving): close connections politely. */
  async stop(): Promise<void> {
    if (!this.up) return
    this.up = false
    this.dialer!.close()
    this.addPast(this.engine!)
    await this.engine!.close().catch(() => {})
    await this.transport!.close()
    this.rt!.kill()
    await this.volume!.close().catch(() => {})
    this.engine = undefined
    this.volume = undefined
    this.tree = undefined
    this.transport = undefined
  }

  /** Frames and bytes over every incarnation. */
  stats(): { framesIn: number; framesOut: number; bytesIn: number; bytesOut: number } {
    const s = this.engine?.stats()
    const p = this.pastStats
    return {
      framesIn: p.framesIn + (s?.framesIn ?? 0),
      framesOut: p.framesOut + (s?.framesOut ?? 0),
      bytesIn: p.bytesIn + (s?.bytesIn ?? 0),
      bytesOut: p.bytesOut + (s?.bytesOut ?? 0),
    }
  }

  private addPast(engine: Engine): void {
    const s = engine.stats()
    this.pastStats.framesIn += s.framesIn
    this.pastStats.framesOut += s.framesOut
    this.pastStats.bytesIn += s.bytesIn
    this.pastStats.bytesOut += s.bytesOut
  }
}

/**
 * The deliberately broken merge: every other batch of remote changes reaches
 * the document but not the materialized view (as if the view update had a
 * bug). Replicas then show different trees for the same document state.
 */
function breakView(tree: AutomergePathTree): void {
  const t = tree as unknown as {
    afterRemote(shard: number, before: string[]): void
    docs: { persist(shard: number): void }
  }
  const real = t.afterRemote.bind(t)
  let n = 0
  t.afterRemote = (shard, before) => {
    if (++n % 2 === 0) {
      t.docs.persist(shard)
      return
    }
    real(shard, before)
  }
}

/**
 * Breakage 'keep-removed': the engine sees a membership that never forgets a
 * member it once had (as if revocation were not enforced), so a removed node
 * keeps its channels to this one. The departure checks must catch it.
 */
function keepRemoved(m: MemberLog): Membership {
  const seen = new Map<string, Role>()
  const note = () => {
    for (const x of m.members()) seen.set(x.node, x.role)
  }
  note()
  m.onChange(note)
  return {
    roleOf: (n) => m.roleOf(n) ?? seen.get(n),
    members: () => m.members(),
    entries: () => m.entries(),
    merge: (e) => m.merge(e),
    onChange: (l) => m.onChange(l),
    everWriter: (n) => m.everWriter(n),
    proof: (n) => m.proof(n),
  }
}
