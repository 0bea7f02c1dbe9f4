/**
 * Fuzzer (b): random, mutated and out-of-order frames at a live sync engine
 * over in-memory connections. The victim replicates a tree with a signed
 * membership log (sync/membership.ts); the attacker is a reader of it (it
 * can open a channel, so channel messages reach the shard sync, the chunk
 * code and the membership merge) or a non-member. Seeds are real frames
 * recorded from writers: their hello/open/members/shards/sync/want/chunk,
 * including sync messages carrying changes the victim does not have.
 *
 * Checked: the process never crashes; nothing is accepted into the victim's
 * tree, membership or store; every connection that saw an undecodable frame
 * is closed, with an `error` frame naming the code; every close by the
 * victim is counted in stats().rejected (or is the victim following a
 * well-formed `refuse`/`error` of the attacker); afterwards a real writer
 * still syncs with the victim.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openMemoryVolume } from '../../../node/open-tree.js'
import type { TreeVolume } from '../../../node/volume.js'
import { MemberLog, MemoryMemberLogStore } from '../../../sync/membership.js'
import type { AutomergePathTree } from '../../../sync/path-tree.js'
import { createSyncEngine, type Engine } from '../../../sync/replica/engine.js'
import type { ReplicaTree } from '../../../sync/replica/types.js'
import { ManualRuntime } from '../../../sync/runtime.js'
import { memoryPair } from '../../../sync/transport/memory.js'
import type { Connection } from '../../../sync/transport/types.js'
import { decodeMessage, encodeMessage } from '../../../sync/wire/codec.js'
import { type Signer, signerFromSeed } from '../../../sync/wire/ed25519.js'
import type { Message } from '../../../sync/wire/messages.js'
import { enc } from '../../node/helpers.js'
import { filtered, settle, type TestNode } from '../replica/helpers.js'
import { FuzzRandom, fuzzSeed, mutate } from './mutate.js'

const TREE = '7a'.repeat(16)
const KEY = new Uint8Array(32).fill(3)
/** Frames the victim's engine must take in (counted by its own stats). */
const TARGET_FRAMES = 100_000

interface Peer {
  signer: Signer
  engine: Engine
  volume: TreeVolume
  tree: AutomergePathTree
  membership: MemberLog
}

async function peer(rt: ManualRuntime, seed: number, membership: (s: Signer) => MemberLog): Promise<Peer> {
  const signer = signerFromSeed(new Uint8Array(32).fill(seed))
  const engine = createSyncEngine({
    nodeId: signer.nodeId,
    runtime: rt,
    antiEntropyMs: 3_600_000,
    agent: 'fuzz',
  })
  const volume = await openMemoryVolume({
    nodeId: signer.nodeId,
    key: KEY,
    runtime: rt,
    fetchMissing: (id) => engine.fetchChunk(TREE, id),
  })
  const m = membership(signer)
  const replica: ReplicaTree = {
    id: TREE,
    name: 'fuzzed',
    key: KEY,
    tree: volume.tree as AutomergePathTree,
    store: volume.store,
    membership: m,
    fetchPolicy: () => 'all',
  }
  engine.addTree(replica)
  return { signer, engine, volume, tree: replica.tree, membership: m }
}

function logOpts(rt: ManualRuntime, signer: Signer) {
  return { tree: TREE, store: new MemoryMemberLogStore(), clock: rt.clock, random: rt.random, signer }
}

const asNodes = (...engines: Engine[]) => engines.map((engine) => ({ engine })) as unknown as TestNode[]

/** What the victim holds: any accepted change would show here. */
function snapshot(v: Peer): string {
  // Shards without heads hold nothing (see phantomShards); every change has a head.
  const heads = v.tree
    .shardIds()
    .filter((s) => v.tree.headsOf(s).length > 0)
    .map((s) => `${s}:${v.tree.headsOf(s).join(',')}`)
  return JSON.stringify({
    heads,
    view: v.tree.dumpView(),
    members: v.membership.members(),
    entries: v.membership.entries().length,
    stored: v.volume.store.stats().storedBytes,
  })
}

/** Empty shard documents a peer's sync message made the victim create (memory, not content). */
function phantomShards(v: Peer): number {
  return v.tree.shardIds().filter((s) => v.tree.headsOf(s).length === 0).length
}

function rejectedTotal(e: Engine): number {
  return Object.values(e.stats().rejected).reduce((a, b) => a + b, 0)
}

function decodes(frame: Uint8Array): boolean {
  try {
    decodeMessage(frame)
    return true
  } catch {
    return false
  }
}

test('fuzz: mutated and out-of-order frames at a live engine', { timeout: 240_000 }, async (t) => {
  const seed = fuzzSeed('fuzz-engine')
  const r = new FuzzRandom(seed)
  const rt = new ManualRuntime(seed)
  const signers = [1, 2, 3, 4].map((i) => signerFromSeed(new Uint8Array(32).fill(i)))
  const [, wId, cId, rId] = signers.map((s) => s.nodeId) as [string, string, string, string]

  // The victim creates the tree; W and C are writers, R (the attacker) a reader.
  const victim = await peer(rt, 1, (s) => {
    const log = MemberLog.create({ ...logOpts(rt, s), signer: s })
    log.add(wId, 'writer')
    log.add(cId, 'writer')
    log.add(rId, 'reader')
    return log
  })
  const welcome = victim.membership.entries()
  const w = await peer(rt, 2, (s) => MemberLog.fromWelcome(logOpts(rt, s), welcome))
  const c = await peer(rt, 3, (s) => MemberLog.fromWelcome(logOpts(rt, s), welcome))
  const all = [victim, w, c]
  t.after(async () => {
    for (const p of all) await p.engine.close()
    for (const p of all) await p.volume.close().catch(() => {})
  })
  await victim.volume.mkdir('/docs', 0o755)
  await victim.volume.writeFile('/docs/readme.txt', enc('the victim wrote this'))

  // Seeds 1: W syncs with the victim and writes a file (sync with changes, want/chunk).
  const seeds: Uint8Array[] = []
  const record = (c: Connection) =>
    filtered(c, (f) => {
      seeds.push(f.slice())
      return f
    })
  const [wv, vw] = memoryPair(wId, victim.signer.nodeId)
  w.engine.attach(record(wv))
  victim.engine.attach(record(vw))
  await settle(rt, asNodes(victim.engine, w.engine))
  await w.volume.writeFile(
    '/docs/w.bin',
    new Uint8Array(200_000).map((_, i) => (i * 13) % 251),
  )
  await settle(rt, asNodes(victim.engine, w.engine))
  wv.close('recorded')
  // Seeds 2: W's changes the victim lacks, as W sends them to C (W dials: channel 0, as the attacker's).
  const [wc, cw] = memoryPair(wId, cId)
  w.engine.attach(record(wc))
  c.engine.attach(cw)
  await settle(rt, asNodes(w.engine, c.engine))
  await w.volume.writeFile('/docs/unseen.txt', enc('the victim must never take this from a reader'))
  await w.volume.mkdir('/docs/unseen-dir', 0o755)
  await settle(rt, asNodes(w.engine, c.engine))
  wc.close('recorded')
  await settle(rt, asNodes(victim.engine, w.engine, c.engine))
  const types = new Set(seeds.map((f) => decodeMessage(f).type))
  for (const ty of ['hello', 'open', 'accept', 'members', 'shards', 'sync', 'want', 'chunk'])
    assert.ok(types.has(ty as Message['type']), `no ${ty} frame recorded (${[...types]})`)
  const nonMember = signerFromSeed(new Uint8Array(32).fill(9)).nodeId
  const hello = encodeMessage({ type: 'hello', version: 1, minVersion: 1, agent: 'fuzzer' })
  const open = encodeMessage({ type: 'open', channel: 0, tree: TREE })

  const before = snapshot(victim)
  const base = victim.engine.stats()
  let episodes = 0
  let malformedEpisodes = 0 // frames, in fact: each undecodable one ends its episode
  let channelEpisodes = 0
  let fuzzFrames = 0
  const start = Date.now()
  /** Deliver what is in flight: memory links deliver on microtasks, the engine's 0-ms timers on advance(0). */
  const quiet = async () => {
    await new Promise((res) => setImmediate(res))
    rt.advance(0)
    await new Promise((res) => setImmediate(res))
  }
  while (victim.engine.stats().framesIn - base.framesIn < TARGET_FRAMES) {
    episodes++
    // 0..2: a reader with a live channel; 3..8: no channel yet; 9: a non-member.
    const mode = r.int(10)
    const attackerId = mode === 9 ? nonMember : rId
    const [attacker, victimEnd] = memoryPair(attackerId, victim.signer.nodeId)
    const got: Message[] = []
    let closed: string | undefined
    attacker.onFrame((f) => got.push(decodeMessage(f)))
    attacker.onClose((info) => {
      closed = info.reason
    })
    victim.engine.attach(victimEnd)
    const send = (f: Uint8Array) => attacker.send(f).catch(() => {})
    if (r.int(20) > 0) void send(hello)
    if (mode <= 2 || mode === 9) {
      void send(open)
      await quiet()
      if (mode <= 2 && !closed) {
        assert.ok(
          got.some((m) => m.type === 'accept' && m.channel === 0 && m.role === 'reader'),
          'reader channel accepted',
        )
        channelEpisodes++
      }
    }
    for (let i = 0; i < 8 && closed === undefined; i++) {
      // Mostly mutations; some valid frames as they are, out of their order.
      const f = r.int(6) === 0 ? r.pick(seeds) : mutate(r, r.pick(seeds), r.pick(seeds))
      if (f.length === 0) continue
      fuzzFrames++
      const rejected = { ...victim.engine.stats().rejected }
      const total = rejectedTotal(victim.engine)
      void send(f)
      await quiet()
      const at = `seed ${seed} episode ${episodes} frame ${i}`
      if (!decodes(f)) {
        malformedEpisodes++
        assert.ok(closed !== undefined, `${at}: an undecodable frame left the connection open`)
        assert.equal(victim.engine.stats().rejected.EMALFORMED, (rejected.EMALFORMED ?? 0) + 1, at)
        const err = got.find((m) => m.type === 'error')
        assert.ok(
          err?.type === 'error' && err.code === 'EMALFORMED' && err.reason.length > 0,
          `${at}: no error frame`,
        )
      } else if (closed !== undefined) {
        // Closed by a well-formed frame: a counted rejection, or the victim following the attacker's own refuse/error.
        const m = decodeMessage(f)
        const followed = m.type === 'refuse' || m.type === 'error'
        assert.ok(
          rejectedTotal(victim.engine) > total || followed,
          `${at}: closed (${closed}) without counting`,
        )
      }
    }
    attacker.close('episode over')
    await quiet()
    if (episodes % 1000 === 0) assert.equal(snapshot(victim), before, `seed ${seed}: the victim changed`)
  }
  const after = victim.engine.stats()
  console.log(
    `${episodes} connections, ${after.framesIn - base.framesIn} frames into the engine (${fuzzFrames} of them random/mutated/out of order) in ${((Date.now() - start) / 1000).toFixed(1)} s; ` +
      `${channelEpisodes} on a live reader channel, ${malformedEpisodes} with a malformed frame; rejected ${JSON.stringify(after.rejected)}; ` +
      `${phantomShards(victim)} empty shard docs created by peers' sync messages`,
  )
  assert.equal(snapshot(victim), before, 'nothing was accepted into the tree, the membership or the store')
  assert.ok((after.rejected.EMALFORMED ?? 0) > 1000)
  assert.ok((after.rejected.EORDER ?? 0) > 100)
  assert.ok((after.rejected.ENOTMEMBER ?? 0) > 100)
  assert.ok((after.rejected.EFORBIDDEN ?? 0) > 0, 'a reader sending changes was refused at least once')

  // The victim still works: W connects and its unseen changes arrive.
  const [wv2, vw2] = memoryPair(wId, victim.signer.nodeId)
  w.engine.attach(wv2)
  victim.engine.attach(vw2)
  await settle(rt, asNodes(victim.engine, w.engine))
  assert.deepEqual(victim.tree.dumpView(), w.tree.dumpView())
  assert.ok(victim.tree.dumpView().some((e) => JSON.stringify(e).includes('unseen.txt')))
})
