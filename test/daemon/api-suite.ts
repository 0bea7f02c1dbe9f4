/**
 * The NodeApi acceptance suite: what every implementation (LocalNode in
 * process, RemoteApi through a daemon) must do the same. Run with
 * `apiSuite(name, open)`; `open` gets an initialised data dir.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { NodeApi } from '../../node/api-types.js'
import type { Teardown } from '../helpers/tmp.js'
import { bytesOf, isFs, isNode, once, sha256, text, tmpHome } from './helpers.js'

export type OpenApi = (home: string, t: Teardown) => Promise<NodeApi>

export function apiSuite(name: string, open: OpenApi): void {
  /** A data dir with the tree 'docs', opened through `open`; closed after the test. */
  async function setup(t: Teardown): Promise<{ api: NodeApi; home: string }> {
    const home = await tmpHome(t)
    const api = await open(home, t)
    t.after(() => api.close())
    await api.treeCreate('docs')
    return { api, home }
  }

  describe(`NodeApi acceptance: ${name}`, () => {
    test('status and trees: create, list, duplicates and bad names refused', async (t) => {
      const home = await tmpHome(t)
      const api = await open(home, t)
      t.after(() => api.close())
      const s0 = await api.status()
      assert.match(s0.nodeId, /^[0-9a-f]{64}$/)
      assert.equal(s0.home, home)
      assert.deepEqual(s0.trees, [])
      assert.equal(s0.keyProtection, 'none')
      const docs = await api.treeCreate('docs')
      assert.equal(docs.name, 'docs')
      assert.match(docs.id, /^[0-9a-f]{32}$/)
      assert.equal(docs.role, 'admin')
      await api.treeCreate('photos')
      assert.deepEqual(
        (await api.treeList()).map((x) => x.name),
        ['docs', 'photos'],
      )
      assert.deepEqual(
        (await api.status()).trees.map((x) => x.id),
        (await api.treeList()).map((x) => x.id),
      )
      await assert.rejects(api.treeCreate('docs'), isNode('ETREEEXISTS'))
      await assert.rejects(api.treeCreate('a/b'), isNode('EBADNAME'))
      await assert.rejects(api.treeCreate(''), isNode('EBADNAME'))
      await assert.rejects(api.stat('nope', '/'), isNode('ENOTREE'))
    })

    test('put/get: create, replace, exclusive, byte ranges, errors name the path', async (t) => {
      const { api } = await setup(t)
      const a = await api.writeFile('docs', '/a.txt', once('hello world'), {
        mode: 0o600,
        mtime: 1_700_000_000_000,
      })
      assert.equal(a.kind, 'file')
      assert.equal(a.size, 11)
      assert.equal(a.mode & 0o777, 0o600)
      assert.equal(a.mtime, 1_700_000_000_000)
      assert.equal(await text(api.readFile('docs', '/a.txt')), 'hello world')
      assert.equal(await text(api.readFile('docs', '/a.txt', { start: 6 })), 'world')
      assert.equal(await text(api.readFile('docs', '/a.txt', { start: 0, end: 5 })), 'hello')
      await api.writeFile('docs', '/a.txt', once('second'))
      assert.equal(await text(api.readFile('docs', '/a.txt')), 'second')
      await assert.rejects(
        api.writeFile('docs', '/a.txt', once('x'), { exclusive: true }),
        isFs('EEXIST', '/a.txt'),
      )
      await assert.rejects(api.writeFile('docs', '/no/such/file', once('x')), isFs('ENOENT'))
      await assert.rejects(text(api.readFile('docs', '/missing')), isFs('ENOENT', '/missing'))
      await api.mkdir('docs', '/d')
      await assert.rejects(api.writeFile('docs', '/d', once('x')), isFs('EISDIR', '/d'))
      await assert.rejects(text(api.readFile('docs', '/d')), isFs('EISDIR', '/d'))
      const empty = await api.writeFile('docs', '/empty', once(new Uint8Array(0)))
      assert.equal(empty.size, 0)
      assert.equal(await text(api.readFile('docs', '/empty')), '')
      // the connection/handle is still usable after every error
      assert.equal((await api.stat('docs', '/a.txt')).size, 6)
    })

    test('a multi-MiB file streams through and back intact', async (t) => {
      const { api } = await setup(t)
      const size = 12 * 1024 * 1024 + 12345
      const want = await sha256(bytesOf(size, 3, 300_000))
      const attr = await api.writeFile('docs', '/big.bin', bytesOf(size, 3, 300_000))
      assert.equal(attr.size, size)
      assert.deepEqual(await sha256(api.readFile('docs', '/big.bin')), want)
      const mid = await sha256(api.readFile('docs', '/big.bin', { start: 1_000_000, end: 3_000_001 }))
      assert.equal(mid.size, 2_000_001)
    })

    test('a source that fails mid-write leaves the path at its previous content', async (t) => {
      const { api } = await setup(t)
      await api.writeFile('docs', '/f', once('old content'))
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield* bytesOf(3 * 1024 * 1024, 9)
        throw new Error('disk on fire')
      }
      await assert.rejects(api.writeFile('docs', '/f', failing()), /disk on fire/)
      assert.equal(await text(api.readFile('docs', '/f')), 'old content')
      await assert.rejects(api.writeFile('docs', '/new', failing()), /disk on fire/)
      await assert.rejects(api.stat('docs', '/new'), isFs('ENOENT'))
      assert.equal((await api.verify()).ok, true)
    })

    test('reading only the start of a file, then carrying on', async (t) => {
      const { api } = await setup(t)
      await api.writeFile('docs', '/big', bytesOf(8 * 1024 * 1024, 5))
      let got = 0
      for await (const c of api.readFile('docs', '/big')) {
        got += c.length
        break
      }
      assert.ok(got > 0)
      assert.equal((await api.stat('docs', '/big')).size, 8 * 1024 * 1024)
      assert.equal((await sha256(api.readFile('docs', '/big'))).size, 8 * 1024 * 1024)
    })

    test('versions: log newest first, cat --at an older version', async (t) => {
      const { api } = await setup(t)
      await api.writeFile('docs', '/v.txt', once('one'))
      await api.writeFile('docs', '/v.txt', once('two'))
      await api.writeFile('docs', '/other', once('x'))
      const log = await api.log('docs', '/v.txt')
      assert.ok(log.length >= 2, JSON.stringify(log))
      assert.ok(log.every((e) => e.path === '/v.txt'))
      for (let i = 1; i < log.length; i++) assert.ok(log[i - 1]!.time >= log[i]!.time)
      // Every version with content reads back as it was (a 'create' may carry content or not).
      const seen: string[] = []
      for (const e of [...log].reverse()) {
        try {
          const s = await text(api.readFile('docs', '/v.txt', { at: e.version }))
          if (seen[seen.length - 1] !== s) seen.push(s)
        } catch (err) {
          isFs('ENOENT')(err)
        }
      }
      assert.deepEqual(seen, ['one', 'two'])
      const oldest = log[log.length - 1]!
      assert.equal(await text(api.readFile('docs', '/v.txt', { at: log[0]!.version })), 'two')
      await assert.rejects(
        text(api.readFile('docs', '/v.txt', { at: oldest.version, start: 1 })),
        isFs('EINVAL'),
      )
      const all = await api.log('docs')
      assert.ok(all.length > log.length)
      assert.equal((await api.log('docs', undefined, 2)).length, 2)
    })

    test('ls pages through a directory in name order', async (t) => {
      const { api } = await setup(t)
      await api.mkdir('docs', '/dir')
      const names: string[] = []
      for (let i = 0; i < 25; i++) {
        const n = `f${String(i).padStart(2, '0')}`
        names.push(n)
        await api.writeFile('docs', `/dir/${n}`, once(n))
      }
      await api.mkdir('docs', '/dir/sub')
      names.push('sub')
      const seen: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await api.ls('docs', '/dir', cursor, 10)
        assert.ok(page.entries.length <= 10)
        seen.push(...page.entries.map((e) => e.name))
        cursor = page.cursor
        pages++
      } while (cursor !== undefined && pages < 10)
      assert.deepEqual(seen, names)
      assert.equal(pages, 3)
      const whole = await api.ls('docs', '/dir')
      assert.equal(whole.entries.length, 26)
      assert.equal(whole.entries.find((e) => e.name === 'sub')?.attr.kind, 'dir')
      assert.equal(whole.entries.find((e) => e.name === 'f03')?.attr.size, 3)
      await assert.rejects(api.ls('docs', '/dir/f00'), isFs('ENOTDIR'))
      await assert.rejects(api.ls('docs', '/none'), isFs('ENOENT', '/none'))
    })

    test('stat, mkdir -p, mv, rm -r, symlinks', async (t) => {
      const { api } = await setup(t)
      const root = await api.stat('docs', '/')
      assert.equal(root.kind, 'dir')
      await assert.rejects(api.mkdir('docs', '/x/y/z'), isFs('ENOENT'))
      const z = await api.mkdir('docs', '/x/y/z', { parents: true })
      assert.equal(z.kind, 'dir')
      await api.mkdir('docs', '/x/y/z', { parents: true })
      await assert.rejects(api.mkdir('docs', '/x'), isFs('EEXIST', '/x'))
      const m = await api.mkdir('docs', '/m', { mode: 0o700 })
      assert.equal(m.mode & 0o777, 0o700)
      await api.writeFile('docs', '/x/y/z/f', once('deep'))
      await api.mv('docs', '/x/y/z/f', '/x/g')
      assert.equal(await text(api.readFile('docs', '/x/g')), 'deep')
      await assert.rejects(api.stat('docs', '/x/y/z/f'), isFs('ENOENT', '/x/y/z/f'))
      await api.writeFile('docs', '/x/h', once('replaced'))
      await api.mv('docs', '/x/g', '/x/h')
      assert.equal(await text(api.readFile('docs', '/x/h')), 'deep')
      await assert.rejects(api.mv('docs', '/nope', '/x/i'), isFs('ENOENT'))
      await assert.rejects(api.rm('docs', '/x'), isFs('EISDIR', '/x'))
      await api.rm('docs', '/x/h')
      await assert.rejects(api.rm('docs', '/x/h'), isFs('ENOENT'))
      await api.rm('docs', '/x', { recursive: true })
      await assert.rejects(api.stat('docs', '/x/y'), isFs('ENOENT'))
      const l = await api.symlink('docs', '../target', '/link')
      assert.equal(l.kind, 'symlink')
      assert.equal(await api.readlink('docs', '/link'), '../target')
      assert.equal((await api.stat('docs', '/link')).kind, 'symlink')
      await assert.rejects(api.readlink('docs', '/m'), isFs('EINVAL'))
      assert.deepEqual(
        (await api.ls('docs', '/')).entries.map((e) => e.name),
        ['link', 'm'],
      )
    })

    test('conflicts on a single node: none, and resolve of a plain file is refused', async (t) => {
      const { api } = await setup(t)
      await api.writeFile('docs', '/c', once('c'))
      assert.deepEqual(await api.conflicts('docs'), [])
      const [v] = await api.log('docs', '/c')
      await assert.rejects(api.resolve('docs', '/c', v!.version), (e: unknown) => {
        assert.ok(e instanceof Error && 'code' in e, String(e))
        return true
      })
      await assert.rejects(api.conflicts('none'), isNode('ENOTREE'))
    })

    test('df counts are consistent, dedup shows, verify is ok, gc keeps live data', async (t) => {
      const { api } = await setup(t)
      await api.treeCreate('more')
      const size = 2 * 1024 * 1024
      await api.writeFile('docs', '/a', bytesOf(size, 11))
      await api.writeFile('docs', '/b', bytesOf(size, 11))
      await api.writeFile('more', '/c', once('small'))
      const df = await api.df()
      assert.deepEqual(
        df.trees.map((x) => x.name),
        ['docs', 'more'],
      )
      const docs = df.trees[0]!
      assert.equal(docs.logicalBytes, 2 * size)
      assert.equal(docs.files, 2)
      assert.ok(docs.chunks > 0)
      assert.ok(docs.storedBytes < 1.2 * size, `dedup: ${docs.storedBytes} stored for 2 equal files`)
      assert.ok(docs.dedupRatio > 1.6)
      assert.equal(df.trees[1]!.logicalBytes, 5)
      const sum = (f: (x: (typeof df.trees)[number]) => number) => df.trees.reduce((n, x) => n + f(x), 0)
      assert.equal(
        df.chunks,
        sum((x) => x.chunks),
      )
      assert.equal(
        df.storedBytes,
        sum((x) => x.storedBytes),
      )
      assert.equal(
        df.logicalBytes,
        sum((x) => x.logicalBytes),
      )
      const v = await api.verify()
      assert.equal(v.ok, true)
      assert.equal(v.trees.length, 2)
      assert.ok(v.trees[0]!.checked > 0)
      assert.deepEqual(v.trees[0]!.damagedPaths, [])
      await api.rm('docs', '/a')
      const gc = await api.gc()
      assert.deepEqual(
        gc.trees.map((x) => x.name),
        ['docs', 'more'],
      )
      for (const r of gc.trees) assert.ok(r.deletedChunks >= 0 && r.freedBytes >= 0)
      assert.deepEqual(await sha256(api.readFile('docs', '/b')), await sha256(bytesOf(size, 11)))
      assert.equal((await api.verify()).ok, true)
      assert.equal((await api.df()).trees[0]!.logicalBytes, size)
    })

    test('calls on a closed handle fail with ECLOSED', async (t) => {
      const home = await tmpHome(t)
      const api = await open(home, t)
      await api.treeCreate('docs')
      await api.close()
      await assert.rejects(api.treeList(), isNode('ECLOSED'))
      await assert.rejects(api.stat('docs', '/'), isNode('ECLOSED'))
      await api.close()
    })
  })
}
