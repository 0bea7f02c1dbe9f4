/**
 * Seeded fuzzing of the framing and of request validation: chunk boundaries
 * never change what is parsed; random bytes are frames or a ProtocolError,
 * nothing else; random requests to a real node are answered or refused, and
 * the daemon keeps serving.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { RemoteApi } from '../../node/daemon/client.js'
import { FrameParser, FrameType, jsonFrame, ProtocolError, streamHeader } from '../../node/daemon/frames.js'
import { METHODS } from '../../node/daemon/methods.js'
import { ApiServer } from '../../node/daemon/server.js'
import { openLocalNode } from '../../node/local-node.js'
import { once, tmpDir, tmpHome } from './helpers.js'
import { RawClient } from './raw.js'

const frameArb = fc.oneof(
  fc
    .record({ id: fc.nat(), method: fc.string(), params: fc.array(fc.jsonValue(), { maxLength: 4 }) })
    .map((b) => jsonFrame(FrameType.REQUEST, b)),
  fc
    .tuple(fc.nat({ max: 0xffffffff }), fc.uint8Array({ maxLength: 3000 }))
    .map(([id, d]) => Buffer.concat([streamHeader(FrameType.DATA, id, d.length), d])),
  fc.nat({ max: 0xffffffff }).map((id) => streamHeader(FrameType.END, id)),
)

test('frames parse the same however the bytes are split', { timeout: 300_000 }, () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (frames, cuts) => {
        const bytes = Buffer.concat(frames)
        const whole = new FrameParser().push(bytes)
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
        const p = new FrameParser()
        const got = []
        let at = 0
        for (const c of [...points, bytes.length]) {
          got.push(...p.push(bytes.subarray(at, c)))
          at = c
        }
        assert.equal(got.length, frames.length)
        assert.deepEqual(
          got.map((f) => [f.type, Buffer.from(f.payload).toString('hex')]),
          whole.map((f) => [f.type, Buffer.from(f.payload).toString('hex')]),
        )
        assert.equal(p.buffered, 0)
      },
    ),
    { seed: 1, numRuns: 300 },
  )
})

test('random bytes are frames or a ProtocolError, never anything else', { timeout: 300_000 }, () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (pieces) => {
      const p = new FrameParser(4096)
      try {
        for (const b of pieces) p.push(Buffer.from(b))
      } catch (e) {
        assert.ok(e instanceof ProtocolError, String(e))
      }
    }),
    { seed: 2, numRuns: 1000 },
  )
})

test('random requests to a real node are answered or refused; the daemon keeps serving', {
  timeout: 300_000,
}, async (t) => {
  const home = await tmpHome(t)
  const node = await openLocalNode({ home })
  t.after(() => node.close())
  await node.treeCreate('docs')
  await node.writeFile('docs', '/keep', once('kept'))
  const logs: string[] = []
  const server = new ApiServer({ api: node, log: (l) => logs.push(l), onShutdown: () => {} })
  const socket = join(tmpDir(t), 's.sock')
  await server.listen(socket)
  t.after(() => server.close(0))
  const good = await RemoteApi.connect(socket)
  t.after(() => good.close())
  const methods = Object.keys(METHODS).filter((m) => m !== 'writeFile' && m !== 'shutdown')
  const value = fc.oneof(
    fc.constantFrom('docs', '/', '/keep', '/x', '..', '/a/../b', '\u0000', 'nope', ''),
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.dictionary(
      fc.constantFrom('parents', 'mode', 'recursive', 'at', 'start', 'end', 'bogus'),
      fc.jsonValue(),
    ),
  )
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...methods),
      fc.array(value, { maxLength: 5 }),
      async (method, params) => {
        // rm/mv of /keep would change what the last check reads; keep it.
        if ((method === 'rm' || method === 'mv') && (params[1] === '/keep' || params[1] === '/')) return
        const r = await RawClient.open(socket)
        try {
          r.hello()
          r.request(1, method, params)
          const f = await r.next((x) => x.type !== FrameType.DATA && x.type !== FrameType.HELLO)
          if (f === undefined) return // closed: a refused request
          assert.ok([FrameType.RESULT, FrameType.ERROR, FrameType.END].includes(f.type as 3 | 4 | 6))
          if (f.type === FrameType.ERROR && f.json?.id === null) await r.closed
        } finally {
          r.destroy()
        }
      },
    ),
    { seed: 3, numRuns: 150 },
  )
  assert.ok(
    !logs.some((l) => /internal error/.test(l)),
    logs.filter((l) => /internal error/.test(l)).join('\n'),
  )
  const chunks: Buffer[] = []
  for await (const c of good.readFile('docs', '/keep')) chunks.push(Buffer.from(c))
  assert.equal(Buffer.concat(chunks).toString(), 'kept')
})
