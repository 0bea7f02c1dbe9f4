/**
 * The local API protocol: streams with backpressure, errors rebuilt on the
 * client, and connections that break the protocol closed alone.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import type { NodeApi } from '../../node/api-types.js'
import { RemoteApi } from '../../node/daemon/client.js'
import { FrameType, MAX_FRAME } from '../../node/daemon/frames.js'
import { ApiServer } from '../../node/daemon/server.js'
import { FsError } from '../../node/errors.js'
import { NodeError } from '../../node/node-error.js'
import type { Teardown } from '../helpers/tmp.js'
import { bytesOf, isFs, isNode, once, sha256, text, tmpDir, until } from './helpers.js'
import { RawClient } from './raw.js'

const MB = 1024 * 1024
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A NodeApi whose methods the test defines; the rest fail with ENOTSUP. */
function fakeApi(impl: Partial<NodeApi>): NodeApi {
  return new Proxy(impl as NodeApi, {
    get(target, prop) {
      const v = (target as unknown as Record<string | symbol, unknown>)[prop]
      if (v !== undefined) return v
      return () => Promise.reject(new NodeError('ENOTSUP', undefined, `fake: ${String(prop)}`))
    },
  })
}

/** An ApiServer over `api` on a fresh socket, closed after the test. */
async function serve(
  t: Teardown,
  api: NodeApi,
): Promise<{ server: ApiServer; socket: string; log: string[] }> {
  const log: string[] = []
  const server = new ApiServer({ api, log: (l) => log.push(l) })
  const socket = join(tmpDir(t), 's.sock')
  await server.listen(socket)
  t.after(() => server.close(0))
  return { server, socket, log }
}

async function client(t: Teardown, socket: string): Promise<RemoteApi> {
  const c = await RemoteApi.connect(socket)
  t.after(() => c.close())
  return c
}

describe('streams have backpressure', { timeout: 300_000 }, () => {
  test('upload: 50 MB to a slow consumer never has more than a few MiB in flight', async (t) => {
    let sent = 0
    let consumed = 0
    let maxInFlight = 0
    const api = fakeApi({
      async writeFile(_tree, _path, source) {
        const h = await sha256(
          (async function* () {
            for await (const c of source) {
              consumed += c.length
              maxInFlight = Math.max(maxInFlight, sent - consumed)
              await sleep(3)
              yield c
            }
          })(),
        )
        return { size: h.size, hash: h.hash } as never
      },
    })
    const { socket } = await serve(t, api)
    const c = await client(t, socket)
    const size = 50 * MB
    const src = (async function* () {
      for await (const b of bytesOf(size, 2)) {
        sent += b.length
        yield b
      }
    })()
    const r = (await c.writeFile('t', '/big', src)) as unknown as { size: number; hash: string }
    assert.equal(r.size, size)
    assert.equal(r.hash, (await sha256(bytesOf(size, 2))).hash)
    assert.ok(maxInFlight < 10 * MB, `max in flight ${maxInFlight}`)
  })

  test('download: 50 MB read slowly never has more than a few MiB in flight', async (t) => {
    let produced = 0
    let consumed = 0
    let maxInFlight = 0
    const size = 50 * MB
    const api = fakeApi({
      readFile() {
        return (async function* () {
          for await (const b of bytesOf(size, 4, 256 * 1024)) {
            produced += b.length
            yield b
          }
        })()
      },
    })
    const { socket } = await serve(t, api)
    const c = await client(t, socket)
    const h = await sha256(
      (async function* () {
        for await (const b of c.readFile('t', '/big')) {
          consumed += b.length
          maxInFlight = Math.max(maxInFlight, produced - consumed)
          await sleep(3)
          yield b
        }
      })(),
    )
    assert.equal(h.size, size)
    assert.equal(h.hash, (await sha256(bytesOf(size, 4, 256 * 1024))).hash)
    assert.ok(maxInFlight < 10 * MB, `max in flight ${maxInFlight}`)
  })

  test('a download abandoned early (many times) leaves the connection usable', async (t) => {
    const api = fakeApi({
      readFile() {
        return (async function* () {
          yield* bytesOf(2 * MB, 1, 64 * 1024)
        })()
      },
      async treeList() {
        return []
      },
    })
    const { socket, log } = await serve(t, api)
    const c = await client(t, socket)
    for (let i = 0; i < 30; i++) {
      let n = 0
      for await (const b of c.readFile('t', '/x')) {
        n += b.length
        if (n >= (i % 5) * 64 * 1024) break
      }
      assert.deepEqual(await c.treeList(), [])
    }
    assert.deepEqual(log, [])
  })
})

describe('errors cross the wire faithfully', { timeout: 300_000 }, () => {
  test('FsError and NodeError are rebuilt with class, code, path/subject and message', async (t) => {
    const api = fakeApi({
      stat: () => Promise.reject(new FsError('ENOSPC', '/x/y', 'disk full')),
      treeCreate: () =>
        Promise.reject(new NodeError('ETREEEXISTS', 'docs', 'a tree of that name already exists')),
      readFile: () =>
        (async function* () {
          yield Buffer.from('partial')
          throw new FsError('EIO', '/bad', 'chunk 1234 is corrupt')
        })(),
    })
    const { socket } = await serve(t, api)
    const c = await client(t, socket)
    await assert.rejects(c.stat('t', '/x/y'), (e: unknown) => {
      assert.ok(e instanceof FsError)
      assert.equal(e.code, 'ENOSPC')
      assert.equal(e.path, '/x/y')
      assert.equal(e.detail, 'disk full')
      assert.equal(e.message, new FsError('ENOSPC', '/x/y', 'disk full').message)
      return true
    })
    await assert.rejects(c.treeCreate('docs'), (e: unknown) => {
      assert.ok(e instanceof NodeError)
      assert.equal(e.code, 'ETREEEXISTS')
      assert.equal(e.subject, 'docs')
      assert.equal(e.message, 'a tree of that name already exists')
      return true
    })
    await assert.rejects(text(c.readFile('t', '/bad')), isFs('EIO', '/bad'))
  })

  test('any other error becomes EDAEMON without a stack; the stack goes to the log', async (t) => {
    const api = fakeApi({
      treeList: () => Promise.reject(new TypeError('cannot read properties of undefined')),
    })
    const { socket, log } = await serve(t, api)
    const c = await client(t, socket)
    await assert.rejects(c.treeList(), (e: unknown) => {
      assert.ok(e instanceof NodeError)
      assert.equal(e.code, 'EDAEMON')
      assert.match(e.message, /cannot read properties of undefined/)
      assert.doesNotMatch(e.message, /\n\s+at /)
      return true
    })
    assert.ok(
      log.some((l) => /treeList failed: TypeError/.test(l) && /\n\s+at /.test(l)),
      log.join('\n'),
    )
    await assert.rejects(c.df(), isNode('ENOTSUP'))
  })
})

describe('a connection that breaks the protocol is closed alone', { timeout: 300_000 }, () => {
  async function setup(t: Teardown) {
    const api = fakeApi({
      async treeList() {
        return [{ name: 'docs', id: '0'.repeat(32), role: 'admin' as const, created: 1 }]
      },
    })
    const s = await serve(t, api)
    const good = await client(t, s.socket)
    return { ...s, good }
  }

  /** Send `bytes` after (optionally) a hello; expect a connection-level error frame, then the close. */
  async function expectClosed(socket: string, send: (r: RawClient) => void, hello = true): Promise<string> {
    const r = await RawClient.open(socket)
    if (hello) r.hello()
    send(r)
    const err = await r.next((f) => f.type === FrameType.ERROR && f.json?.id === null)
    assert.ok(err, 'expected an error frame before the close')
    await r.closed
    return String((err.json?.error as { message?: string } | undefined)?.message)
  }

  test('garbage, oversized, unknown types, bad JSON, bad params, no hello, wrong version', async (t) => {
    const { socket, log, good, server } = await setup(t)
    const cases: [string, (r: RawClient) => void, boolean, RegExp][] = [
      ['http', (r) => r.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), false, /frame length/],
      [
        'oversized',
        (r) => {
          const h = Buffer.alloc(5)
          h.writeUInt32BE(MAX_FRAME + 1, 0)
          h[4] = FrameType.REQUEST
          r.socket.write(h)
        },
        true,
        /frame length/,
      ],
      ['zero length', (r) => r.socket.write(Buffer.alloc(4)), true, /frame length 0/],
      ['unknown type', (r) => r.socket.write(Buffer.from([0, 0, 0, 1, 99])), true, /unknown frame type 99/],
      [
        'bad json',
        (r) =>
          r.socket.write(Buffer.concat([Buffer.from([0, 0, 0, 4, FrameType.REQUEST]), Buffer.from('{x}')])),
        true,
        /not valid JSON/,
      ],
      [
        'no id',
        (r) => r.socket.write(Buffer.from([0, 0, 0, 3, FrameType.REQUEST, 0x5b, 0x5d])),
        true,
        /JSON object/,
      ],
      ['bad params', (r) => r.request(1, 'stat', ['docs', 42]), true, /stat: parameter 2 must be a string/],
      [
        'unknown option',
        (r) => r.request(1, 'rm', ['docs', '/x', { force: true }]),
        true,
        /unknown option 'force'/,
      ],
      ['request before hello', (r) => r.request(1, 'treeList', []), false, /first frame must be a hello/],
      ['wrong version', (r) => r.hello(99), false, /protocol version 99/],
      ['stray data', (r) => r.data(7, Buffer.from('xx')), true, /not uploading/],
      [
        'second request while busy',
        (r) => {
          r.request(1, 'writeFile', ['docs', '/a', {}])
          r.request(2, 'treeList', [])
        },
        true,
        /before the previous one finished/,
      ],
    ]
    for (const [name, send, hello, re] of cases) {
      const msg = await expectClosed(socket, send, hello)
      assert.match(msg, re, name)
      // the daemon keeps serving the others
      assert.equal((await good.treeList())[0]?.name, 'docs', name)
    }
    assert.equal(log.filter((l) => /broke the protocol/.test(l)).length, cases.length)
    await until(() => server.connections === 1, 5000, 'the bad connections to close')
  })

  test('an unknown method is refused, the connection stays usable', async (t) => {
    const { socket } = await setup(t)
    const r = await RawClient.open(socket)
    r.hello()
    r.request(5, 'formatDisk', [])
    const e = await r.next((f) => f.type === FrameType.ERROR)
    assert.equal(e?.json?.id, 5)
    assert.equal((e?.json?.error as { code?: string } | undefined)?.code, 'ENOTSUP')
    r.request(6, 'treeList', [])
    const ok = await r.next((f) => f.type === FrameType.RESULT)
    assert.equal(ok?.json?.id, 6)
    r.destroy()
  })

  test('a server that sends garbage makes the client fail with EDAEMON, not hang', async (t) => {
    const { createServer } = await import('node:net')
    const socket = join(tmpDir(t), 'evil.sock')
    const evil = createServer((s) => {
      s.on('error', () => {})
      s.resume() // read, so the client's close is seen and the server can close
      s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))
    })
    await new Promise<void>((r) => evil.listen(socket, r))
    t.after(() => new Promise((r) => evil.close(r)))
    await assert.rejects(RemoteApi.connect(socket, 2000), isNode('EDAEMON'))
  })
})

describe('versions', { timeout: 300_000 }, () => {
  test('a node speaking another protocol version is reported with what to do', async (t) => {
    const { createServer } = await import('node:net')
    const { jsonFrame } = await import('../../node/daemon/frames.js')
    const socket = join(tmpDir(t), 'future.sock')
    const future = createServer((s) => {
      s.on('error', () => {})
      s.resume()
      s.write(jsonFrame(FrameType.HELLO, { protocol: 2, version: '9.9.9' }))
    })
    await new Promise<void>((r) => future.listen(socket, r))
    t.after(() => new Promise((r) => future.close(r)))
    await assert.rejects(RemoteApi.connect(socket, 2000), (e: unknown) => {
      isNode('EDAEMON')(e)
      assert.match((e as Error).message, /bt 9\.9\.9\) speaks local API protocol 2.*restart the node/)
      return true
    })
  })
})

describe('several clients at once', { timeout: 300_000 }, () => {
  test('concurrent calls on one handle and across handles', async (t) => {
    const files = new Map<string, string>()
    const api = fakeApi({
      async writeFile(_t, path, source) {
        const s = await text(source)
        await sleep(5)
        files.set(path, s)
        return { size: s.length } as never
      },
      readFile(_t, path) {
        return once(files.get(path) ?? '')
      },
    })
    const { socket, server } = await serve(t, api)
    const handles = await Promise.all([1, 2, 3, 4].map(() => client(t, socket)))
    await Promise.all(
      handles.flatMap((h, i) =>
        Array.from({ length: 10 }, (_, j) => h.writeFile('t', `/h${i}/f${j}`, once(`content ${i} ${j}`))),
      ),
    )
    assert.equal(files.size, 40)
    for (const [i, h] of handles.entries())
      for (let j = 0; j < 10; j++)
        assert.equal(await text(h.readFile('t', `/h${i}/f${j}`)), `content ${i} ${j}`)
    assert.ok(server.connections >= 4)
    // A download being read while other calls are made on the same handle.
    const h = handles[0]!
    const it = h.readFile('t', '/h0/f0')[Symbol.asyncIterator]()
    await h.writeFile('t', '/other', once('o'))
    assert.equal(Buffer.from((await it.next()).value as Uint8Array).toString(), 'content 0 0')
    assert.equal((await it.next()).done, true)
  })
})

describe('a stop never loses the answer to a change that happened', { timeout: 300_000 }, () => {
  test('a write committing and a plain call in flight at the end of the grace period are still answered', async (t) => {
    const api = fakeApi({
      async writeFile(_t, _p, source) {
        const s = await text(source)
        await sleep(1500) // committing, longer than the server lingers for stubborn clients
        return { size: s.length } as never
      },
      async mkdir() {
        await sleep(1500)
        return { kind: 'dir' } as never
      },
    })
    const { server, socket } = await serve(t, api)
    const a = await client(t, socket)
    const b = await client(t, socket)
    const put = a.writeFile('t', '/f', once('committed'))
    const mk = b.mkdir('t', '/d')
    await sleep(100)
    await server.close(50)
    assert.equal((await put).size, 9)
    assert.equal((await mk).kind, 'dir')
  })
})

describe('odd upload sources', { timeout: 300_000 }, () => {
  test('a source that throws at once, or yields nothing, leaves the connection usable', async (t) => {
    const files = new Map<string, string>()
    const api = fakeApi({
      async writeFile(_t, path, source) {
        const s = await text(source)
        files.set(path, s)
        return { size: s.length } as never
      },
      async treeList() {
        return []
      },
    })
    const { socket } = await serve(t, api)
    const c = await client(t, socket)
    const broken = {
      [Symbol.asyncIterator]() {
        throw new Error('cannot open the source')
      },
    } as AsyncIterable<Uint8Array>
    await assert.rejects(c.writeFile('t', '/a', broken), /cannot open the source/)
    assert.equal(files.has('/a'), false)
    const empty = (async function* (): AsyncGenerator<Uint8Array> {})()
    assert.equal((await c.writeFile('t', '/e', empty)).size, 0)
    assert.equal(files.get('/e'), '')
    assert.deepEqual(await c.treeList(), [])
  })
})
