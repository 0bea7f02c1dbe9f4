import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import Database from 'better-sqlite3'
import { resolveHome } from '../../node/home.js'
import { initNode, publicKeyHex } from '../../node/identity.js'
import { openLocalNode } from '../../node/local-node.js'
import { HomeLock } from '../../node/lock.js'
import { NodeError } from '../../node/node-error.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { tmpDir } from '../helpers/tmp.js'

async function collect(it: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = []
  for await (const c of it) parts.push(Buffer.from(c))
  return Buffer.concat(parts).toString()
}

async function* bytes(s: string | Buffer): AsyncGenerator<Uint8Array> {
  yield Buffer.from(s)
}

const isNodeError = (code: string) => (e: unknown) => e instanceof NodeError && e.code === code

describe('data dir', () => {
  test('home resolution: flag, BT_HOME, XDG_DATA_HOME, ~/.local/share', () => {
    assert.equal(resolveHome('/x/y', { BT_HOME: '/b' }), '/x/y')
    assert.equal(resolveHome(undefined, { BT_HOME: '/b' }), '/b')
    assert.equal(resolveHome(undefined, { XDG_DATA_HOME: '/d' }), '/d/blocktree')
    assert.equal(resolveHome(undefined, { HOME: '/h' }), '/h/.local/share/blocktree')
  })

  test('init creates an identity once; node id is the Ed25519 public key of the seed', async (t) => {
    const home = tmpDir(t)
    const r = await initNode({ home, protection: 'none', runtime: new ManualRuntime(7) })
    assert.match(r.nodeId, /^[0-9a-f]{64}$/)
    assert.match(r.warning ?? '', /UNPROTECTED/)
    const rec = JSON.parse(readFileSync(join(home, 'identity.json'), 'utf8'))
    assert.equal(rec.protection, 'none')
    const master = Buffer.from(rec.secret.secret, 'base64')
    assert.equal(publicKeyHex(master.subarray(0, 32)), r.nodeId)
    await assert.rejects(initNode({ home, protection: 'none' }), isNodeError('EINITIALIZED'))
    // RFC 8032 test vector 1
    assert.equal(
      publicKeyHex(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')),
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    )
  })

  test('open before init, a garbage key file, a tampered secret: clear errors', async (t) => {
    const home = tmpDir(t)
    await assert.rejects(openLocalNode({ home }), isNodeError('ENOTINIT'))
    await initNode({ home, protection: 'none' })
    const file = join(home, 'identity.json')
    const good = readFileSync(file, 'utf8')
    writeFileSync(file, '{"format": garbage')
    await assert.rejects(openLocalNode({ home }), isNodeError('ECORRUPT'))
    const rec = JSON.parse(good)
    rec.secret.secret = Buffer.alloc(64, 1).toString('base64')
    writeFileSync(file, JSON.stringify(rec))
    await assert.rejects(openLocalNode({ home }), isNodeError('EKEY'))
    writeFileSync(file, good)
    const n = await openLocalNode({ home })
    await n.close()
  })

  test('one process per data dir: the lock excludes a second opener until released', async (t) => {
    const home = tmpDir(t)
    await initNode({ home, protection: 'none' })
    const a = await openLocalNode({ home })
    await assert.rejects(
      openLocalNode({ home }),
      (e) => isNodeError('ELOCKED')(e) && /pid \d+/.test((e as Error).message),
    )
    const waiting = openLocalNode({ home, lockWaitMs: 5000 })
    await a.close()
    const b = await waiting
    await b.close()
    const l = await HomeLock.acquire(home)
    l.release()
  })

  test('garbage node.db and tree.db give ECORRUPT, nothing overwritten', async (t) => {
    const home = tmpDir(t)
    await initNode({ home, protection: 'none' })
    let n = await openLocalNode({ home })
    const info = await n.treeCreate('docs')
    await n.close()
    const treeDb = join(home, 'trees', info.id, 'tree.db')
    writeFileSync(treeDb, Buffer.alloc(8192, 0x41))
    n = await openLocalNode({ home })
    await assert.rejects(
      n.stat('docs', '/'),
      (e) => isNodeError('ECORRUPT')(e) && (e as NodeError).subject === 'docs',
    )
    await n.close()
    assert.equal(readFileSync(treeDb).subarray(0, 16).toString(), 'A'.repeat(16))
    writeFileSync(join(home, 'node.db'), Buffer.alloc(4096, 0x42))
    for (const f of ['node.db-wal', 'node.db-shm']) writeFileSync(join(home, f), '')
    await assert.rejects(openLocalNode({ home }), isNodeError('ECORRUPT'))
    assert.equal(readFileSync(join(home, 'node.db')).subarray(0, 4).toString(), 'BBBB')
  })
})

describe('LocalNode', () => {
  async function fresh(t: Parameters<typeof tmpDir>[0]) {
    const home = tmpDir(t)
    await initNode({ home, protection: 'none' })
    const n = await openLocalNode({ home })
    t.after(() => n.close())
    return { home, n }
  }

  test('trees: create, list, names validated, duplicates refused, survive reopen', async (t) => {
    const { home, n } = await fresh(t)
    const d = await n.treeCreate('docs')
    assert.match(d.id, /^[0-9a-f]{32}$/)
    assert.equal(d.role, 'admin')
    await assert.rejects(n.treeCreate('docs'), isNodeError('ETREEEXISTS'))
    for (const bad of ['', 'a/b', 'a:b', '.hidden', '-x', 'x'.repeat(65), 'nul\0']) {
      await assert.rejects(n.treeCreate(bad), isNodeError('EBADNAME'), bad)
    }
    await n.treeCreate('photos')
    assert.deepEqual(
      (await n.treeList()).map((x) => x.name),
      ['docs', 'photos'],
    )
    await assert.rejects(n.stat('nope', '/'), isNodeError('ENOTREE'))
    await n.writeFile('docs', '/a.txt', bytes('hello'))
    await n.close()
    const m = await openLocalNode({ home })
    t.after(() => m.close())
    assert.equal(await collect(m.readFile('docs', '/a.txt')), 'hello')
    assert.equal((await m.status()).trees.length, 2)
  })

  test('files: write, ranged read, versions, mkdir -p, mv, rm -r, log', async (t) => {
    const { n } = await fresh(t)
    await n.treeCreate('docs')
    await n.mkdir('docs', '/a/b/c', { parents: true })
    await n.writeFile('docs', '/a/b/c/f.txt', bytes('one'))
    await n.writeFile('docs', '/a/b/c/f.txt', bytes('two!'))
    assert.equal(await collect(n.readFile('docs', '/a/b/c/f.txt', { start: 1, end: 3 })), 'wo')
    const log = await n.log('docs', '/a/b/c/f.txt')
    const writes = log.filter((e) => e.op === 'write' || e.op === 'create')
    assert.ok(writes.length >= 2)
    const texts = new Set<string>()
    for (const e of writes) {
      try {
        texts.add(await collect(n.readFile('docs', '/a/b/c/f.txt', { at: e.version })))
      } catch {}
    }
    assert.ok(texts.has('one') && texts.has('two!'), [...texts].join(','))
    await n.mv('docs', '/a/b/c/f.txt', '/top.txt')
    assert.equal((await n.stat('docs', '/top.txt')).size, 4)
    await assert.rejects(n.rm('docs', '/a'), (e: unknown) => (e as { code?: string }).code === 'EISDIR')
    await n.rm('docs', '/a', { recursive: true })
    await assert.rejects(n.stat('docs', '/a'), (e: unknown) => (e as { code?: string }).code === 'ENOENT')
    assert.deepEqual(
      (await n.ls('docs', '/')).entries.map((e) => e.name),
      ['top.txt'],
    )
  })

  test('df counts files, logical and stored bytes; dedup shows', async (t) => {
    const { n } = await fresh(t)
    await n.treeCreate('docs')
    const big = Buffer.alloc(300_000)
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251
    await n.writeFile('docs', '/1', bytes(big))
    await n.writeFile('docs', '/2', bytes(big))
    const df = await n.df()
    assert.equal(df.trees[0]!.files, 2)
    assert.equal(df.logicalBytes, 600_000)
    assert.ok(df.storedBytes > 300_000 && df.storedBytes < 400_000, String(df.storedBytes))
    assert.ok(df.dedupRatio > 1.5)
    assert.ok(df.chunks > 0)
  })

  test('verify reports corrupt chunks and the damaged paths; gc frees removed content', async (t) => {
    const { home, n } = await fresh(t)
    const info = await n.treeCreate('docs')
    const data = Buffer.alloc(200_000, 3)
    await n.writeFile('docs', '/ok.txt', bytes('fine'))
    await n.writeFile('docs', '/bad.bin', bytes(data))
    assert.equal((await n.verify()).ok, true)
    await n.close()
    // Blobs of small writes live in tree.db (inline), larger ones in chunks.db: damage both.
    for (const file of ['chunks.db', 'tree.db']) {
      const db = new Database(join(home, 'trees', info.id, file))
      db.prepare('UPDATE store_chunks SET data = randomblob(length(data))').run()
      db.close()
    }
    const m = await openLocalNode({ home })
    t.after(() => m.close())
    const r = await m.verify()
    assert.equal(r.ok, false)
    assert.ok(r.trees[0]!.corrupt.length > 0)
    assert.deepEqual(r.trees[0]!.damagedPaths.sort(), ['/bad.bin', '/ok.txt'])
  })

  test('close waits for an in-flight write; calls after close fail with ECLOSED', async (t) => {
    const home = tmpDir(t)
    await initNode({ home, protection: 'none' })
    const n = await openLocalNode({ home })
    await n.treeCreate('docs')
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    async function* slow() {
      yield Buffer.from('part1-')
      await gate
      yield Buffer.from('part2')
    }
    const w = n.writeFile('docs', '/slow.txt', slow())
    await new Promise((r) => setImmediate(r))
    const closed = n.close()
    await assert.rejects(n.stat('docs', '/'), isNodeError('ECLOSED'))
    release()
    await w
    await closed
    const m = await openLocalNode({ home })
    t.after(() => m.close())
    assert.equal(await collect(m.readFile('docs', '/slow.txt')), 'part1-part2')
  })
})
