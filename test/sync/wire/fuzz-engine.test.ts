/**
 * Fuzzer (b): random, mutated and out-of-order frames at a live sync engine
 * over in-memory connections. The victim replicates a tree with a signed
 * membership log (sync/membership.ts); the attacker is a reader of it (it
 * can open a channel, so channel messages reach the shard sync, the chunk
 * code and the membership merge) or a non-member. Seeds are real frames
 * recorded from writers: their hello/open/members/shards/sync/want/chunk,
 * including sync messages carrying changes the victim does not have.
 *
 * At least 100,000 random or mutated frames (BT_FUZZ_FRAMES) are processed
 * by the victim's engine, counted by its own frame counter. Each in-memory
 * connection is first brought to a protocol state with valid frames (none;
 * hello; hello + a live reader channel; hello as a non-member), then gets a
 * burst there: field-level mutations that still encode (aimed at the live
 * channel), byte mutations, noise, valid frames out of order. The frames
 * that decode go first and at most one that does not goes last, since the
 * first undecodable frame ends the connection.
 *
 * Checked after every connection: the victim survived (no internal error);
 * its shard heads, member entries and stored bytes are unchanged (the whole
 * view every 500 connections and at the end): nothing accepted; nothing
 * after an undecodable frame was processed and that frame closed the
 * connection with an EMALFORMED `error` frame and a count; every close by
 * the victim has a reason and is counted in stats().rejected (or is the
 * victim following a well-formed `refuse`/`error` of the attacker); the
 * victim no longer holds the connection. Afterwards a real writer still
 * syncs with the victim.
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
import { decodeMessage, encodeMessage, TYPE_CODES } from '../../../sync/wire/codec.js'
import { type Signer, signerFromSeed } from '../../../sync/wire/ed25519.js'
import type { Message } from '../../../sync/wire/messages.js'
import { enc } from '../../node/helpers.js'
import { filtered, settle, type TestNode } from '../replica/helpers.js'
import { FuzzRandom, fuzzSeed, mutate, mutateMessage } from './mutate.js'

const TREE = '7a'.repeat(16)
const KEY = new Uint8Array(32).fill(3)
/** Random or mutated frames the victim's engine must process (counted by its own stats). */
const TARGET_FRAMES = Number(process.env.BT_FUZZ_FRAMES ?? 100_000)

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

/** The cheap part of `snapshot`: shard heads, member entries, stored bytes. */
function quickState(v: Peer): string {
  // (Empty shard documents a peer's sync message made are not content: see phantomShards.)
  const heads = v.tree
    .shardIds()
    .map((s) => v.tree.headsOf(s).join(','))
    .filter((h) => h.length > 0)
  return `${heads.join(';')}|${v.membership.entries().length}|${v.volume.store.stats().storedBytes}`
}

/** Empty shard documents a peer's sync message made the victim create (memory, not content). */
function phantomShards(v: Peer): number {
  return v.tree.shardIds().filter((s) => v.tree.headsOf(s).length === 0).length
}

function rejectedTotal(e: Engine): number {
  return Object.values(e.stats().rejected).reduce((a, b) => a + b, 0)
}

/** The message a frame decodes to, or undefined when the codec refuses it. */
function decoded(frame: Uint8Array): Message | undefined {
  try {
    return decodeMessage(frame)
  } catch {
    return undefined
  }
}

test('fuzz: mutated and out-of-order frames at a live engine', { timeout: 900_000 }, async (t) => {
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
  const beforeQuick = quickState(victim)
  const base = victim.engine.stats()
  const basePeers = victim.engine.peers().length
  const decodedSeeds = seeds.map((f) => decodeMessage(f))
  const framesIn = () => victim.engine.stats().framesIn
  /** Frames the victim's engine processed, by what they were. */
  const processed = { mutated: 0, fieldMutated: 0, random: 0, replayed: 0, setup: 0 }
  const perState = { fresh: 0, hello: 0, channel: 0, stranger: 0 }
  let connections = 0
  let closedByVictim = 0
  const start = Date.now()
  /** Deliver what is in flight: memory links deliver on microtasks, the engine's 0-ms timers on advance(0). */
  const quiet = async () => {
    await new Promise((res) => setImmediate(res))
    rt.advance(0)
    await new Promise((res) => setImmediate(res))
  }
  const fuzzed = () => processed.mutated + processed.fieldMutated + processed.random
  while (fuzzed() < TARGET_FRAMES) {
    connections++
    // Each connection is brought to one protocol state with valid frames, then gets a burst of
    // fuzz frames there, so they meet the checks of that state: before hello; after hello; on a
    // live reader channel (members, shards, sync, want/chunk handling); as a non-member after hello.
    const roll = r.int(20)
    const state = roll === 0 ? 'fresh' : roll <= 6 ? 'hello' : roll <= 17 ? 'channel' : 'stranger'
    perState[state]++
    const [attacker, victimEnd] = memoryPair(state === 'stranger' ? nonMember : rId, victim.signer.nodeId)
    const got: Uint8Array[] = []
    // A box: the close arrives in a callback (a plain variable would be narrowed to undefined below).
    const link: { closed?: string } = {}
    attacker.onFrame((f) => got.push(f))
    attacker.onClose((info) => {
      link.closed = info.reason
    })
    const closedReason = (): string | undefined => link.closed
    victim.engine.attach(victimEnd)
    const at = `seed ${seed} connection ${connections} (${state})`
    const f0 = framesIn()
    // The setup frames go out with the burst behind them (frames arrive in order; the setup is valid).
    const setupFrames = state === 'fresh' ? [] : state === 'channel' ? [hello, open] : [hello]
    const setup = setupFrames.length
    processed.setup += setup
    // The burst: byte mutations of recorded frames, field mutations that still encode (aimed at the
    // live channel), plain noise, and now and then a valid frame out of its order.
    const burst: { frame: Uint8Array; kind: keyof typeof processed }[] = []
    // A non-member asking for the tree (refused with ENOTMEMBER), then what follows.
    if (state === 'stranger' && r.int(2) === 0) burst.push({ frame: open, kind: 'replayed' })
    // (Empty frames are left out: a transport never delivers one.)
    for (let n = 1 + r.int(16); burst.length < n; ) {
      const k = r.int(10)
      if (k <= 3) {
        const f = mutate(r, r.pick(seeds), r.pick(seeds))
        if (f.length > 0) burst.push({ frame: f, kind: 'mutated' })
      } else if (k <= 7) {
        const f = mutateMessage(r, r.pick(decodedSeeds), state === 'channel' ? 0 : undefined)
        if (f) burst.push({ frame: f, kind: 'fieldMutated' })
      } else if (k === 8) burst.push({ frame: r.bytes(1 + r.int(200)), kind: 'random' })
      else burst.push({ frame: r.pick(seeds), kind: 'replayed' })
    }
    // Frames that decode go first, then at most one that does not: it ends the connection, so
    // anything behind it would never reach the engine (many frames per costly connection setup).
    const typed = burst.map((b) => ({ ...b, message: decoded(b.frame) }))
    const ok = typed.filter((b) => b.message !== undefined)
    const broken = typed.find((b) => b.message === undefined)
    const frames = [...ok, ...(broken ? [broken] : [])]
    const rejectedBefore = rejectedTotal(victim.engine)
    const malformedBefore = victim.engine.stats().rejected.EMALFORMED ?? 0
    for (const f of setupFrames) void attacker.send(f).catch(() => {})
    for (const b of frames) void attacker.send(b.frame).catch(() => {})
    await quiet()
    const replies = (type: Message['type']) =>
      got.filter((f) => f[0] === TYPE_CODES[type]).map((f) => decodeMessage(f))
    if (state === 'channel')
      assert.ok(
        replies('accept').some((m) => m.type === 'accept' && m.channel === 0 && m.role === 'reader'),
        `${at}: reader channel accepted`,
      )
    const took = framesIn() - f0 - setup
    const seen = frames.slice(0, took)
    for (const b of seen) processed[b.kind]++
    assert.ok(took >= 1 && took <= frames.length, `${at}: ${took} of ${frames.length} frames processed`)
    // An undecodable frame ends the connection at once: nothing after it is processed.
    const bad = seen.findIndex((b) => b.message === undefined)
    assert.ok(bad === -1 || bad === took - 1, `${at}: frame ${bad} did not decode but the connection went on`)
    if (took < frames.length)
      assert.ok(link.closed !== undefined, `${at}: frames went unprocessed on an open connection`)
    if (bad !== -1) {
      assert.ok(link.closed !== undefined, `${at}: an undecodable frame left the connection open`)
      assert.ok((victim.engine.stats().rejected.EMALFORMED ?? 0) > malformedBefore, `${at}: not counted`)
      const err = replies('error')[0]
      assert.ok(
        err?.type === 'error' && err.code === 'EMALFORMED' && err.reason.length > 0,
        `${at}: no error frame`,
      )
    }
    const reason = closedReason()
    if (reason !== undefined) {
      closedByVictim++
      assert.ok(reason.length > 0, `${at}: closed without a reason`)
      // Closed by a well-formed frame: a counted rejection, or the victim following the attacker's own refuse/error.
      const followed = seen.some((b) => {
        return b.message?.type === 'refuse' || b.message?.type === 'error'
      })
      assert.ok(
        rejectedTotal(victim.engine) > rejectedBefore || followed,
        `${at}: closed (${link.closed}) without counting`,
      )
    } else {
      attacker.close('episode over')
    }
    await quiet()
    // After every connection: it is gone on the victim's side too, and nothing was accepted.
    assert.equal(victim.engine.peers().length, basePeers, `${at}: the victim still holds the connection`)
    // Heads, member entries and stored bytes on every connection (any accepted change moves one),
    // the whole view now and then.
    assert.equal(quickState(victim), beforeQuick, `${at}: the victim changed`)
    if (connections % 500 === 0) assert.equal(snapshot(victim), before, `${at}: the victim changed`)
  }
  const after = victim.engine.stats()
  console.log(
    `${connections} connections (${JSON.stringify(perState)}), ${closedByVictim} closed by the victim; frames processed by the engine: ` +
      `${JSON.stringify(processed)} (${fuzzed()} random or mutated) in ${((Date.now() - start) / 1000).toFixed(1)} s; ` +
      `rejected ${JSON.stringify(after.rejected)}; ${phantomShards(victim)} empty shard docs created by peers' sync messages`,
  )
  assert.ok(fuzzed() >= TARGET_FRAMES)
  assert.equal(
    after.framesIn - base.framesIn,
    fuzzed() + processed.replayed + processed.setup,
    'every frame accounted for',
  )
  assert.equal(snapshot(victim), before, 'nothing was accepted into the tree, the membership or the store')
  // Every kind of frame reached the engine in quantity, and every line of defence was exercised.
  const share = TARGET_FRAMES / 100_000
  assert.ok(
    processed.fieldMutated > 50_000 * share &&
      processed.mutated > 15_000 * share &&
      processed.random > 1_500 * share,
  )
  assert.equal(after.rejected.EINTERNAL, undefined, 'a frame caused an internal error')
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
