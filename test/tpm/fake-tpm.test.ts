/**
 * A fake TPM on a loopback socket that answers with truncated, oversized,
 * malformed, slow or random responses: every case is a clear TpmError, never
 * a hang or a crash.
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { TpmClient } from '../../tpm/client.js'
import { primaryTemplate } from '../../tpm/structures.js'
import { TpmError } from '../../tpm/types.js'
import type { Teardown } from '../helpers/tmp.js'

process.env.BT_NETWORK ??= 'loopback'

type Answer = (command: Buffer, socket: Socket) => void

/** A server speaking swtpm's framing; `answer` decides what goes back for each command. */
async function fakeTpm(t: Teardown, answer: Answer): Promise<string> {
  const server: Server = createServer((socket) => {
    let buf = Buffer.alloc(0)
    socket.on('error', () => undefined)
    socket.on('data', (b) => {
      buf = Buffer.concat([buf, b])
      while (buf.length >= 9 && buf.length >= 9 + buf.readUInt32BE(5)) {
        const len = buf.readUInt32BE(5)
        const cmd = buf.subarray(9, 9 + len)
        buf = buf.subarray(9 + len)
        if (!socket.destroyed) answer(cmd, socket)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const addr = server.address()
  assert.ok(addr && typeof addr === 'object')
  return `swtpm:127.0.0.1:${addr.port}`
}

/** A framed response: u32 length, the bytes, u32 ack. */
function framed(response: Buffer, ack = 0): Buffer {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(response.length, 0)
  const a = Buffer.alloc(4)
  a.writeUInt32BE(ack, 0)
  return Buffer.concat([len, response, a])
}

/** A TPM response: tag NO_SESSIONS, size, rc, body. */
function response(rc: number, body: Buffer = Buffer.alloc(0), tag = 0x8001): Buffer {
  const h = Buffer.alloc(10)
  h.writeUInt16BE(tag, 0)
  h.writeUInt32BE(10 + body.length, 2)
  h.writeUInt32BE(rc, 6)
  return Buffer.concat([h, body])
}

async function expectError(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TpmError, `not a TpmError: ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (pattern) assert.match(e.message, pattern)
    return true
  })
}

const timeoutMs = 300

describe('malformed TPM responses', () => {
  test('connection refused: ENOTPM', async (t) => {
    const spec = await fakeTpm(t, () => undefined)
    const port = Number(spec.split(':')[2])
    // Find a closed port by closing a listener on it.
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const cport = (closed.address() as { port: number }).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    assert.notEqual(cport, port)
    await expectError(TpmClient.open(`swtpm:127.0.0.1:${cport}`, { timeoutMs }), 'ENOTPM', /cannot reach/)
  })

  test('truncated response then close: EPROTO, and the client stays failed', async (t) => {
    const spec = await fakeTpm(t, (_c, s) => {
      const r = framed(response(0, Buffer.alloc(40)))
      s.end(r.subarray(0, 20))
    })
    const c = await TpmClient.open(spec, { timeoutMs })
    await expectError(c.getRandom(8), 'EPROTO', /closed the connection/)
    await expectError(c.getRandom(8), 'EPROTO')
    await c.close()
  })

  test('truncated response, connection held open: ETIMEDOUT', async (t) => {
    const spec = await fakeTpm(t, (_c, s) => s.write(framed(response(0, Buffer.alloc(40))).subarray(0, 12)))
    const c = await TpmClient.open(spec, { timeoutMs })
    const start = performance.now()
    await expectError(c.getRandom(8), 'ETIMEDOUT', /did not answer within 300 ms/)
    assert.ok(performance.now() - start < 3000)
    await c.close()
  })

  test('a silent TPM: ETIMEDOUT', async (t) => {
    const spec = await fakeTpm(t, () => undefined)
    const c = await TpmClient.open(spec, { timeoutMs })
    await expectError(c.createPrimary(primaryTemplate()), 'ETIMEDOUT')
    await c.close()
  })

  test('a slow TPM within the deadline is fine', async (t) => {
    const spec = await fakeTpm(t, (_c, s) => {
      const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from([1, 2, 3, 4])])
      const r = framed(response(0, body))
      // Dribble the response out a few bytes at a time.
      let i = 0
      const tick = setInterval(() => {
        if (s.destroyed || i >= r.length) return clearInterval(tick)
        s.write(r.subarray(i, i + 3))
        i += 3
      }, 5)
    })
    const c = await TpmClient.open(spec, { timeoutMs: 2000 })
    assert.deepEqual(await c.getRandom(4), new Uint8Array([1, 2, 3, 4]))
    await c.close()
  })

  test('impossible sizes, size mismatch, bad ack, bad tag: EPROTO', async (t) => {
    const cases: [string, Buffer, RegExp][] = [
      ['huge frame', Buffer.from([0xff, 0xff, 0xff, 0xff]), /impossible size/],
      ['tiny frame', Buffer.from([0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0]), /impossible size/],
      [
        'header says more',
        (() => {
          const r = response(0, Buffer.from([0, 0]))
          r.writeUInt32BE(99, 2)
          return framed(r)
        })(),
        /header says 99/,
      ],
      ['nonzero ack', framed(response(0, Buffer.from([0, 0])), 7), /status 7/],
      [
        'session tag without sessions',
        framed(response(0, Buffer.from([0, 0]), 0x8002)),
        /unexpected response tag/,
      ],
      ['error with a body', framed(response(0x101, Buffer.from([0, 0]))), /malformed error response/],
      ['TPM2B past the end', framed(response(0, Buffer.from([0, 32, 1, 2]))), /truncated/],
      ['trailing bytes', framed(response(0, Buffer.from([0, 1, 9, 9]))), /trailing/],
    ]
    for (const [what, bytes, pattern] of cases) {
      const spec = await fakeTpm(t, (_c, s) => s.write(bytes))
      const c = await TpmClient.open(spec, { timeoutMs })
      await expectError(c.getRandom(1), 'EPROTO', pattern).catch((e) => {
        throw new Error(`${what}: ${(e as Error).message}`)
      })
      await c.close()
    }
  })

  test('an error response code is named', async (t) => {
    const spec = await fakeTpm(t, (_c, s) => s.write(framed(response(0x9a2))))
    const c = await TpmClient.open(spec, { timeoutMs })
    await expectError(c.getRandom(1), 'ETPM', /TPM_RC_BAD_AUTH \(session 1\)/)
    await c.close()
  })

  test('random response bodies never crash the parser (property)', async (t) => {
    let next: Buffer = Buffer.alloc(0)
    const spec = await fakeTpm(t, (_c, s) => s.write(framed(next)))
    const c = await TpmClient.open(spec, { timeoutMs })
    const calls = [
      () => c.getRandom(8),
      () => c.createPrimary(primaryTemplate()),
      () => c.pcrRead([0, 16]),
      () => c.load({ handle: 0x80000000, name: new Uint8Array(34) }, new Uint8Array(10), new Uint8Array(10)),
    ]
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.integer({ min: 0, max: calls.length - 1 }),
        fc.boolean(),
        async (body, which, withSessions) => {
          next = response(0, Buffer.from(body), withSessions ? 0x8002 : 0x8001)
          try {
            await (calls[which] as () => Promise<unknown>)()
          } catch (e) {
            if (!(e instanceof TpmError)) throw e
            if (e.code === 'ETIMEDOUT') throw e
          }
        },
      ),
      { numRuns: 300 },
    )
    await c.close()
  })
})
