/**
 * Content through the engine: fetch-all after remote changes, demand reads
 * (and their timeout), a corrupt chunk from one peer refetched from
 * another, and an interrupted transfer that resumes without asking again
 * for chunks already stored.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FsError } from '../../../node/errors.js'
import { COMMIT_BYTES, HOLD_MS } from '../../../sync/replica/chunk-fetcher.js'
import type { Connection } from '../../../sync/transport/types.js'
import { decodeMessage, encodeMessage } from '../../../sync/wire/codec.js'
import { enc, pattern } from '../../node/helpers.js'
import { connect, contents, FETCH_TIMEOUT_MS, filtered, readFile, settle, swarm } from './helpers.js'

test("fetch policy 'all': every chunk of every visible version is fetched after the metadata", async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  const big = pattern(3 * 1024 * 1024 + 123, 5)
  await a.volume.writeFile('/big.bin', big)
  await a.volume.writeFile('/small.txt', enc('small'))
  connect(a, b)
  await settle(rt, nodes)
  const ref = b.tree.resolve('/big.bin')!.content!.ref
  assert.deepEqual(await b.store.missing(ref), [], 'all chunks are local on bob')
  assert.deepEqual(Buffer.compare(Buffer.from(await readFile(b.volume, '/big.bin')), Buffer.from(big)), 0)
  const st = b.engine.status(b.replica.id)
  assert.equal(st.chunksWanted, 0)
  const small = b.tree.resolve('/small.txt')!.content!.ref
  assert.equal(
    st.chunksReceived,
    (await a.store.chunkIds(ref)).length + (await a.store.chunkIds(small)).length,
  )
  assert.ok(st.bytesIn > big.length)
  assert.equal(st.state, 'synced')
  // A rename moves no content: nothing more is asked for.
  const asked = b.engine.idsAsked(b.replica.id)
  await a.volume.rename('/big.bin', '/renamed.bin')
  await settle(rt, nodes)
  assert.ok(b.tree.resolve('/renamed.bin'))
  assert.equal(b.engine.idsAsked(b.replica.id), asked)
})

test("fetch policy 'demand': nothing is fetched until a read asks; with no peer the read fails with EIO after the timeout", async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'], { policy: { bob: 'demand' } })
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  const data = pattern(600_000, 9)
  await a.volume.writeFile('/f.bin', data)
  const [ca] = connect(a, b)
  await settle(rt, nodes)
  const ref = b.tree.resolve('/f.bin')!.content!.ref
  const missing = await b.store.missing(ref)
  assert.ok(missing.length >= 1, 'nothing fetched in advance')
  assert.equal(b.engine.idsAsked(b.replica.id), 0)
  const read = readFile(b.volume, '/f.bin')
  await settle(rt, nodes)
  assert.equal(Buffer.compare(Buffer.from(await read), Buffer.from(data)), 0)
  assert.ok(b.engine.idsAsked(b.replica.id) >= 2, 'the manifest, then its chunks')
  // Another file, and no peer: the demand gives up after fetchTimeoutMs.
  await a.volume.writeFile('/g.bin', pattern(100_000, 10))
  await settle(rt, nodes)
  assert.ok(b.tree.resolve('/g.bin'))
  ca.close('test: unplugged')
  await settle(rt, nodes)
  let failed: unknown
  const pending = readFile(b.volume, '/g.bin').catch((e) => {
    failed = e
  })
  await settle(rt, nodes)
  assert.equal(failed, undefined, 'still waiting')
  rt.advance(FETCH_TIMEOUT_MS)
  await settle(rt, nodes)
  await pending
  const err = failed as unknown
  assert.ok(err instanceof FsError && err.code === 'EIO', String(err))
  const unknown = b.engine.fetchChunk(b.replica.id, 'f'.repeat(64))
  rt.advance(FETCH_TIMEOUT_MS)
  assert.equal(await unknown, undefined)
})

test('a corrupt chunk from one peer is counted, never stored, and fetched from another peer', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'carol', 'bob'])
  t.after(close)
  const [a, c, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
  const data = pattern(400_000, 3)
  await a.volume.writeFile('/x.bin', data)
  connect(a, c)
  await settle(rt, nodes)
  assert.deepEqual(await c.store.missing(c.tree.resolve('/x.bin')!.content!.ref), [])
  // alice's link to bob flips a byte of every chunk she sends.
  let corrupted = 0
  connect(a, b, (conn) =>
    filtered(conn, (frame) => {
      const m = decodeMessage(frame)
      if (m.type !== 'chunk') return frame
      corrupted++
      const bad = m.data.slice()
      bad[0] = bad[0]! ^ 0xff
      return encodeMessage({ ...m, data: bad })
    }),
  )
  const events: string[] = []
  b.engine.onEvent((e) => {
    if (e.type === 'rejected') events.push(e.code)
    if (e.type === 'chunk') events.push(e.from === c.id ? 'chunk-from-carol' : 'chunk-from-alice')
  })
  await settle(rt, nodes)
  connect(c, b)
  await settle(rt, nodes)
  assert.ok(corrupted >= 1)
  assert.ok((b.engine.stats().rejected.EMALFORMED ?? 0) >= 1)
  assert.ok(events.includes('EMALFORMED'))
  assert.ok(!events.includes('chunk-from-alice'))
  assert.equal(Buffer.compare(Buffer.from(await readFile(b.volume, '/x.bin')), Buffer.from(data)), 0)
  assert.deepEqual(await b.volume.verify().then((r) => [r.corrupt, r.missing]), [[], []])
  assert.equal(a.engine.peers().length, 2, 'a bad chunk does not cost the connection')
})

test('an interrupted transfer resumes without asking again for chunks already stored', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  const data = pattern(6 * 1024 * 1024, 11)
  await a.volume.writeFile('/movie.bin', data)
  const ref = a.tree.resolve('/movie.bin')!.content!.ref
  const total = (await a.store.chunkIds(ref)).length
  let received = 0
  const [ca] = connect(a, b)
  b.engine.onEvent((e) => {
    if (e.type === 'chunk' && ++received === Math.floor(total / 2)) ca.close('test: cut mid-transfer')
  })
  await settle(rt, nodes)
  const stored = received
  assert.ok(stored > 1 && stored < total, `${stored} of ${total}`)
  const missing = await b.store.missing(ref)
  assert.equal(missing.length, total - stored)
  const askedBefore = b.engine.idsAsked(b.replica.id)
  connect(a, b)
  await settle(rt, nodes)
  assert.deepEqual(await b.store.missing(ref), [])
  assert.equal(
    b.engine.idsAsked(b.replica.id) - askedBefore,
    missing.length,
    'only the missing ones were asked',
  )
  assert.deepEqual(await contents(b.volume), await contents(a.volume))
})

test('received chunks are committed in batches of bounded size, and counted only once stored', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  const data = pattern(10 * 1024 * 1024, 12)
  await a.volume.writeFile('/big.bin', data)
  const ref = a.tree.resolve('/big.bin')!.content!.ref
  const total = (await a.store.chunkIds(ref)).length
  const batches: { n: number; bytes: number }[] = []
  const put = b.store.putVerifiedMany.bind(b.store)
  b.store.putVerifiedMany = (chunks) => {
    batches.push({ n: chunks.length, bytes: chunks.reduce((x, c) => x + c.data.length, 0) })
    return put(chunks)
  }
  let early = 0
  b.engine.onEvent((e) => {
    if (e.type === 'chunk' && !b.store.getStored(e.id)) early++
  })
  connect(a, b)
  await settle(rt, nodes)
  assert.deepEqual(await b.store.missing(ref), [])
  assert.equal(early, 0, 'a chunk event comes after its commit')
  assert.equal(
    batches.reduce((x, c) => x + c.n, 0),
    total,
    'every chunk committed once',
  )
  assert.ok(batches.length < total / 4, `${batches.length} commits for ${total} chunks`)
  for (const c of batches) assert.ok(c.bytes <= COMMIT_BYTES + 256 * 1024, `a batch of ${c.bytes} bytes`)
  assert.equal(Buffer.compare(Buffer.from(await readFile(b.volume, '/big.bin')), Buffer.from(data)), 0)
})

test('two connections to one node: sync runs on one (iroh before hyperswarm), chunks prefer hyperswarm, a close hands the sync over', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  const sent: Record<string, Record<string, number>> = { iroh: {}, hyperswarm: {} }
  const as = (kind: 'iroh' | 'hyperswarm', count: boolean) => (c: Connection) =>
    filtered(
      c,
      (frame) => {
        if (count) {
          const type = decodeMessage(frame).type
          sent[kind]![type] = (sent[kind]![type] ?? 0) + 1
        }
        return frame
      },
      kind,
    )
  const [irohA] = connect(a, b, as('iroh', true), as('iroh', false))
  connect(a, b, as('hyperswarm', true), as('hyperswarm', false))
  await settle(rt, nodes)
  await a.volume.writeFile('/data.bin', pattern(500_000, 4))
  await settle(rt, nodes)
  assert.deepEqual(await b.store.missing(b.tree.resolve('/data.bin')!.content!.ref), [])
  assert.ok((sent.iroh!.sync ?? 0) > 0)
  assert.equal(sent.hyperswarm!.sync ?? 0, 0, 'no sync on the second connection')
  assert.ok((sent.hyperswarm!.chunk ?? 0) > 0)
  assert.equal(sent.iroh!.chunk ?? 0, 0, 'no chunk on iroh while hyperswarm is there')
  irohA.close('test: iroh gone')
  await settle(rt, nodes)
  await a.volume.writeFile('/later.txt', enc('after the hand-over'))
  await settle(rt, nodes)
  assert.ok((sent.hyperswarm!.sync ?? 0) > 0)
  assert.equal(Buffer.from(await readFile(b.volume, '/later.txt')).toString(), 'after the hand-over')
})

test('a peer still fetching a chunk holds the want and sends the chunk when it arrives; after HOLD_MS it says nochunk', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob', 'carol'])
  t.after(close)
  const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
  // alice -> bob: chunk frames are kept back until released (a slow source); released ones go
  // out unfiltered on alice's side of the pair.
  const kept: Uint8Array[] = []
  let aliceSide: Connection | undefined
  connect(a, b, (conn) => {
    aliceSide = conn
    return filtered(conn, (frame) => {
      if (decodeMessage(frame).type !== 'chunk') return frame
      kept.push(frame)
      return undefined
    })
  })
  const toCarol: Record<string, number> = {}
  connect(b, c, (conn) =>
    filtered(conn, (frame) => {
      const type = decodeMessage(frame).type
      toCarol[type] = (toCarol[type] ?? 0) + 1
      return frame
    }),
  )
  const release = async () => {
    for (const f of kept.splice(0)) await aliceSide!.send(f)
    await settle(rt, nodes)
  }
  await settle(rt, nodes)
  await a.volume.writeFile('/x.bin', pattern(200_000, 11))
  await settle(rt, nodes)
  const ref = (path: string) => c.tree.resolve(path)!.content!.ref
  assert.ok(kept.length >= 1, 'bob asked alice')
  assert.ok((await c.store.missing(ref('/x.bin'))).length >= 1, 'carol has the metadata, not the chunks')
  assert.equal(toCarol.nochunk ?? 0, 0, "bob holds carol's want instead of refusing it")
  // The chunks reach bob (the manifest, then what it lists): carol's held wants get them.
  while (kept.length > 0) await release()
  assert.deepEqual(await c.store.missing(ref('/x.bin')), [])
  assert.equal(toCarol.nochunk ?? 0, 0)
  assert.equal(toCarol.have ?? 0, 0, 'no have and no second want: the chunk came as the answer')
  assert.ok((toCarol.chunk ?? 0) >= 1)
  // A source that stays silent: after HOLD_MS the held want is refused; `have` follows the arrival.
  await a.volume.writeFile('/y.bin', pattern(50_000, 12))
  await settle(rt, nodes)
  assert.ok(kept.length >= 1)
  assert.equal(toCarol.nochunk ?? 0, 0)
  rt.advance(HOLD_MS)
  await settle(rt, nodes)
  assert.ok((toCarol.nochunk ?? 0) >= 1, 'refused after HOLD_MS')
  while (kept.length > 0) await release()
  assert.ok((toCarol.have ?? 0) >= 1)
  assert.deepEqual(await c.store.missing(ref('/y.bin')), [])
})
