/**
 * Swarms of sync engines in one process for the engine tests: memory
 * volumes, a shared ManualRuntime (virtual time: anti-entropy only runs when
 * a test advances the clock), in-memory connection pairs, a membership whose
 * entries are plain JSON (the engine only needs the `Membership` contract;
 * signatures are sync/membership.ts's business and tested there), and
 * `settle` to run everything until no frame moves.
 */
import { constants } from 'node:fs'
import { openMemoryVolume } from '../../../node/open-tree.js'
import type { TreeVolume } from '../../../node/volume.js'
import type { ContentStore } from '../../../store/types.js'
import type { AutomergePathTree } from '../../../sync/path-tree.js'
import { createSyncEngine, type Engine } from '../../../sync/replica/engine.js'
import type { Membership, ReplicaTree, SyncEngineOptions } from '../../../sync/replica/types.js'
import { ManualRuntime } from '../../../sync/runtime.js'
import { memoryPair } from '../../../sync/transport/memory.js'
import type { CloseInfo, Connection, TransportKind } from '../../../sync/transport/types.js'
import type { Role } from '../../../sync/wire/messages.js'

const { O_RDONLY } = constants

export const TREE = '0123456789abcdef0123456789abcdef'
export const KEY = new Uint8Array(32).fill(7)
export const ANTI_ENTROPY_MS = 30_000
export const FETCH_TIMEOUT_MS = 5_000

/** A 64-hex node id from a short name (deterministic). */
export function nodeId(name: string): string {
  return Buffer.from(name.padEnd(32, '.')).toString('hex').slice(0, 64)
}

/** Membership as a log of JSON entries `{node, role|null, seq}`: the highest seq per node wins. */
export class TestMembership implements Membership {
  private log: Uint8Array[] = []
  private readonly parsed: { node: string; role: Role | null; seq: number }[] = []
  private readonly seen = new Set<string>()
  private readonly listeners = new Set<() => void>()
  private seq = 0

  constructor(initial: Record<string, Role> = {}) {
    for (const [node, role] of Object.entries(initial)) this.append({ node, role, seq: ++this.seq })
  }

  roleOf(node: string): Role | undefined {
    let best: { role: Role | null; seq: number } | undefined
    for (const e of this.decoded()) if (e.node === node && (!best || e.seq > best.seq)) best = e
    return best?.role ?? undefined
  }

  members(): { node: string; role: Role }[] {
    const nodes = new Set(this.decoded().map((e) => e.node))
    return [...nodes].flatMap((node) => {
      const role = this.roleOf(node)
      return role ? [{ node, role }] : []
    })
  }

  everWriter(node: string): boolean {
    return this.decoded().some(
      (e) => e.node === node && (e.role === 'writer' || e.role === 'admin' || e.role === 'server'),
    )
  }

  entries(): Uint8Array[] {
    return this.log.slice()
  }

  merge(entries: Uint8Array[]): { added: number; rejected: number } {
    let added = 0
    let rejected = 0
    for (const e of entries) {
      try {
        const v = JSON.parse(Buffer.from(e).toString())
        if (typeof v.node !== 'string' || typeof v.seq !== 'number') throw new Error('bad')
        if (this.addRaw(e)) {
          added++
          this.seq = Math.max(this.seq, v.seq)
        }
      } catch {
        rejected++
      }
    }
    if (added > 0) this.changed()
    return { added, rejected }
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Set (or with undefined, remove) a node's role, as an admin would. */
  set(node: string, role: Role | undefined): void {
    this.append({ node, role: role ?? null, seq: ++this.seq })
    this.changed()
  }

  private append(v: { node: string; role: Role | null; seq: number }): void {
    this.addRaw(new Uint8Array(Buffer.from(JSON.stringify(v))))
  }

  private addRaw(e: Uint8Array): boolean {
    const key = Buffer.from(e).toString()
    if (this.seen.has(key)) return false
    this.seen.add(key)
    this.log.push(e)
    this.parsed.push(JSON.parse(key))
    return true
  }

  private decoded(): { node: string; role: Role | null; seq: number }[] {
    return this.parsed
  }

  private changed(): void {
    for (const l of this.listeners) l()
  }
}

export interface TestNode {
  name: string
  id: string
  engine: Engine
  volume: TreeVolume
  tree: AutomergePathTree
  store: ContentStore
  membership: TestMembership
  replica: ReplicaTree
  policy: 'all' | 'demand'
  logs: string[]
}

export interface NodeOptions {
  policy?: 'all' | 'demand'
  /** Roles by node name (default: every name given to `swarm` as writer). */
  members: Record<string, Role>
  /** Extra engine options (e.g. knownPeers). */
  engine?: Partial<SyncEngineOptions>
}

/** A node replicating TREE with its own memory volume and engine. */
export async function makeNode(rt: ManualRuntime, name: string, opts: NodeOptions): Promise<TestNode> {
  const id = nodeId(name)
  const logs: string[] = []
  const engine = createSyncEngine({
    nodeId: id,
    runtime: rt,
    antiEntropyMs: ANTI_ENTROPY_MS,
    fetchTimeoutMs: FETCH_TIMEOUT_MS,
    agent: `test ${name}`,
    log: (l) => logs.push(l),
    ...opts.engine,
  })
  const volume = await openMemoryVolume({
    nodeId: id,
    key: KEY,
    runtime: rt,
    fetchMissing: (chunk) => engine.fetchChunk(TREE, chunk),
  })
  const membership = new TestMembership(
    Object.fromEntries(Object.entries(opts.members).map(([n, r]) => [nodeId(n), r])),
  )
  const node: TestNode = {
    name,
    id,
    engine,
    volume,
    tree: volume.tree as AutomergePathTree,
    store: volume.store,
    membership,
    policy: opts.policy ?? 'all',
    logs,
    replica: undefined as unknown as ReplicaTree,
  }
  node.replica = {
    id: TREE,
    name: 'docs',
    key: KEY,
    tree: node.tree,
    store: volume.store,
    membership,
    fetchPolicy: () => node.policy,
  }
  engine.addTree(node.replica)
  return node
}

/** Nodes named `names`, every one a writer in every membership, plus a shared runtime. */
export async function swarm(
  names: string[],
  opts: {
    policy?: Record<string, 'all' | 'demand'>
    roles?: Record<string, Role>
    seed?: number
    engine?: Record<string, Partial<SyncEngineOptions>>
  } = {},
) {
  const rt = new ManualRuntime(opts.seed ?? 1)
  const members: Record<string, Role> = {}
  for (const n of names) members[n] = opts.roles?.[n] ?? 'writer'
  const nodes: TestNode[] = []
  for (const n of names) {
    const engine = opts.engine?.[n]
    nodes.push(
      await makeNode(rt, n, { members, policy: opts.policy?.[n] ?? 'all', ...(engine ? { engine } : {}) }),
    )
  }
  const close = async () => {
    for (const n of nodes) await n.engine.close()
    for (const n of nodes) await n.volume.close().catch(() => {})
  }
  return { rt, nodes, close }
}

/** Connect two nodes with a memory pair (`a` dials); `wrap` / `wrapB` may interpose on a's / b's side. */
export function connect(
  a: TestNode,
  b: TestNode,
  wrap?: (c: Connection) => Connection,
  wrapB?: (c: Connection) => Connection,
): [Connection, Connection] {
  const [ca, cb] = memoryPair(a.id, b.id)
  const wa = wrap ? wrap(ca) : ca
  const wb = wrapB ? wrapB(cb) : cb
  a.engine.attach(wa)
  b.engine.attach(wb)
  return [wa, wb]
}

/**
 * A connection that passes `send` through `filter`: return the frame to
 * send (possibly changed) or undefined to drop it (as a lossy link would).
 */
export function filtered(
  c: Connection,
  filter: (frame: Uint8Array) => Uint8Array | undefined,
  transport: TransportKind = c.transport,
): Connection {
  return {
    get remoteId() {
      return c.remoteId
    },
    get transport() {
      return transport
    },
    get initiator() {
      return c.initiator
    },
    get closed() {
      return c.closed
    },
    send(frame: Uint8Array) {
      const f = filter(frame)
      return f ? c.send(f) : c.closed ? Promise.reject(new Error('closed')) : Promise.resolve()
    },
    onFrame: (l: (frame: Uint8Array) => void) => c.onFrame(l),
    onClose: (l: (info: CloseInfo) => void) => c.onClose(l),
    close: (reason?: string) => c.close(reason),
  }
}

/** Run microtasks, I/O callbacks and due 0-ms timers until no engine moves a frame for a few rounds. */
export async function settle(rt: ManualRuntime, nodes: TestNode[], maxRounds = 5000): Promise<void> {
  let last = -1
  let stable = 0
  for (let i = 0; i < maxRounds; i++) {
    await new Promise((r) => setImmediate(r))
    rt.advance(0)
    let frames = 0
    for (const n of nodes) {
      const s = n.engine.stats()
      frames += s.framesIn + s.framesOut
    }
    if (frames === last) {
      if (++stable >= 5) return
    } else {
      stable = 0
      last = frames
    }
  }
  throw new Error('the swarm did not settle')
}

/** Advance virtual time in steps, settling after each (timers that fire during it run). */
export async function elapse(rt: ManualRuntime, nodes: TestNode[], ms: number, step = 1000): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    rt.advance(Math.min(step, ms - t))
    await settle(rt, nodes)
  }
}

/** Whole content of a file. */
export async function readFile(v: TreeVolume, path: string): Promise<Uint8Array> {
  const fh = await v.open(path, O_RDONLY)
  try {
    const { size } = await v.getattr(path, fh)
    return await v.read(fh, 0, size + 1)
  } finally {
    await v.release(fh)
  }
}

/** Every file path under `dir` with its content (conflict copies included), sorted. */
export async function contents(v: TreeVolume, dir = '/'): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const { entries } = await v.readdir(dir, undefined, 100_000)
  for (const e of entries) {
    const p = `${dir === '/' ? '' : dir}/${e.name}`
    if (e.attr.kind === 'dir') Object.assign(out, await contents(v, p))
    else if (e.attr.kind === 'file') out[p] = Buffer.from(await readFile(v, p)).toString('hex')
  }
  return out
}
