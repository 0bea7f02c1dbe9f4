/**
 * The sync engine in one process, over an in-memory connection pair (no
 * network, no transport cost): what the protocol and the engine add.
 *
 * - content: node A holds one file of N MiB; node B (fetch policy 'all')
 *   connects and fetches every chunk through want/chunk frames. Baseline in
 *   the same run: copying the same chunks store to store directly
 *   (getStored + putVerified), i.e. the storage cost alone.
 * - metadata: node A holds F files (in 100-file commits); a fresh B connects
 *   and syncs the path tree. Baseline: `syncTrees` between the same two
 *   kinds of replicas in-process (the same Automerge work, no frames).
 *
 * Usage: node dist/bench/sync-engine.js [--quick] [--mib N] [--files N]
 */
import { openMemoryVolume } from '../node/open-tree.js'
import type { TreeVolume } from '../node/volume.js'
import type { AutomergePathTree } from '../sync/path-tree.js'
import { createSyncEngine, type Engine } from '../sync/replica/engine.js'
import type { Membership, ReplicaTree } from '../sync/replica/types.js'
import { systemRuntime } from '../sync/runtime.js'
import { syncTrees } from '../sync/sync-trees.js'
import { memoryPair } from '../sync/transport/memory.js'
import { ROOT_ID } from '../sync/types.js'
import { benchArgs } from './args.js'

const opts = benchArgs(
  'sync-engine',
  'Sync engine over an in-memory pair: content fetch and metadata sync.',
  {
    mib: { full: [256], quick: [4], help: 'file size for the content run (MiB)' },
    files: { full: [20_000], quick: [300], help: 'files for the metadata run' },
  },
)
const MIB = opts.mib[0]!
const FILES = opts.files[0]!
const TREE = 'be0cbe0cbe0cbe0cbe0cbe0cbe0cbe0c'
const KEY = new Uint8Array(32).fill(1)
const A_ID = 'a'.repeat(64)
const B_ID = 'b'.repeat(64)
const rt = systemRuntime()

const secs = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9
/** CPU seconds (user + system) of this process since `c0`: meaningful on a loaded machine, unlike wall time. */
const cpu = (c0: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(c0)
  return (d.user + d.system) / 1e6
}

/** Both nodes are writers; nothing changes during the run. */
const membership: Membership = {
  roleOf: (n) => (n === A_ID || n === B_ID ? 'writer' : undefined),
  members: () => [
    { node: A_ID, role: 'writer' },
    { node: B_ID, role: 'writer' },
  ],
  entries: () => [],
  merge: () => ({ added: 0, rejected: 0 }),
  onChange: () => () => {},
}

async function node(id: string): Promise<{ v: TreeVolume; engine: Engine }> {
  const engine = createSyncEngine({ nodeId: id, runtime: rt })
  const v = await openMemoryVolume({ nodeId: id, key: KEY, runtime: rt })
  const replica: ReplicaTree = {
    id: TREE,
    name: 'bench',
    key: KEY,
    tree: v.tree as AutomergePathTree,
    store: v.store,
    membership,
    fetchPolicy: () => 'all',
  }
  engine.addTree(replica)
  return { v, engine }
}

async function until(check: () => Promise<boolean> | boolean, what: string, limitS = 600): Promise<void> {
  const t0 = process.hrtime.bigint()
  while (!(await check())) {
    if (secs(t0) > limitS) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
    out[i + 1] = (x >>> 8) & 0xff
    out[i + 2] = (x >>> 16) & 0xff
    out[i + 3] = (x >>> 24) & 0xff
  }
  return out
}

async function content(): Promise<void> {
  const a = await node(A_ID)
  const b = await node(B_ID)
  const data = bytes(MIB * 1024 * 1024, 7)
  await a.v.writeFile('/big.bin', data)
  const ref = a.v.tree.resolve('/big.bin')!.content!.ref
  const ids = await a.v.store.chunkIds(ref)

  // Baseline: the same chunks copied store to store.
  const c = await openMemoryVolume({ nodeId: 'c'.repeat(64), key: KEY, runtime: rt })
  const t1 = process.hrtime.bigint()
  const c1 = process.cpuUsage()
  for (const id of ids) c.store.putVerified(id, a.v.store.getStored(id)!)
  const base = secs(t1)
  const baseCpu = cpu(c1)

  let received = 0
  let done: () => void = () => {}
  const all = new Promise<void>((r) => {
    done = r
  })
  b.engine.onEvent((e) => {
    if (e.type === 'chunk' && ++received === ids.length) done()
  })
  const t0 = process.hrtime.bigint()
  const c0 = process.cpuUsage()
  const [ca, cb] = memoryPair(A_ID, B_ID)
  a.engine.attach(ca)
  b.engine.attach(cb)
  await all
  const took = secs(t0)
  const tookCpu = cpu(c0)
  if ((await b.v.store.missing(ref)).length > 0) throw new Error('content incomplete')
  const st = b.engine.status(TREE)
  console.log(`content: ${MIB} MiB, ${ids.length} chunks`)
  console.log(
    `  engine over a memory pair  ${(MIB / took).toFixed(0)} MiB/s (${took.toFixed(2)} s, ${tookCpu.toFixed(2)} s CPU, ${st.bytesIn} bytes in)`,
  )
  console.log(
    `  baseline store-to-store    ${(MIB / base).toFixed(0)} MiB/s (${base.toFixed(2)} s, ${baseCpu.toFixed(2)} s CPU)`,
  )
  await a.engine.close()
  await b.engine.close()
  for (const v of [a.v, b.v, c]) await v.close()
}

async function metadata(): Promise<void> {
  const a = await node(A_ID)
  const tree = a.v.tree as AutomergePathTree
  for (let i = 0; i < FILES; i++) {
    tree.create(ROOT_ID, `f${i}`, 'dir', { mode: 0o755, mtime: i })
    if (i % 100 === 99) tree.commit()
  }
  tree.commit()
  const b = await node(B_ID)
  const t0 = process.hrtime.bigint()
  const [ca, cb] = memoryPair(A_ID, B_ID)
  a.engine.attach(ca)
  b.engine.attach(cb)
  await until(
    () => b.v.tree.childCount(ROOT_ID) === FILES && b.engine.status(TREE).state === 'synced',
    'metadata',
  )
  const took = secs(t0)
  const wire = b.engine.stats().bytesIn + b.engine.stats().bytesOut

  const c = await openMemoryVolume({ nodeId: 'c'.repeat(64), key: KEY, runtime: rt })
  const t1 = process.hrtime.bigint()
  const s = syncTrees(tree, c.tree as AutomergePathTree)
  const base = secs(t1)
  console.log(`metadata: ${FILES} entries`)
  console.log(`  engine over a memory pair  ${took.toFixed(2)} s, ${(wire / 1e6).toFixed(1)} MB both ways`)
  console.log(`  baseline syncTrees         ${base.toFixed(2)} s, ${(s.bytes / 1e6).toFixed(1)} MB`)
  await a.engine.close()
  await b.engine.close()
  for (const v of [a.v, b.v, c]) await v.close()
}

await content()
await metadata()
