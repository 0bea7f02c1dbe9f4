/**
 * The shared acceptance suite of the `Volume` interface. Every variant
 * (memory, disk) runs all of it: `runVolumeAcceptance(name, make)`.
 */
import assert from 'node:assert/strict'
import { constants } from 'node:fs'
import { describe, test } from 'node:test'
import type { Volume } from '../../node/volume-types.js'
import type { ManualRuntime } from '../../sync/runtime.js'
import type { Teardown } from '../helpers/tmp.js'
import { collect, dec, enc, pattern, put, readAll, rejects } from './helpers.js'

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, S_IFDIR, S_IFREG, S_IFLNK } =
  constants

export interface VolumeFixture {
  volume: Volume
  runtime: ManualRuntime
  /** Close the volume and open it again from its storage (persistent variants only). */
  reopen?: () => Promise<Volume>
}

export type MakeVolume = (t: Teardown) => Promise<VolumeFixture>

export function runVolumeAcceptance(name: string, make: MakeVolume): void {
  describe(`Volume acceptance: ${name}`, () => {
    const setup = async (t: Teardown) => {
      const fx = await make(t)
      t.after(() => fx.volume.close().catch(() => {}))
      return fx
    }

    test('root, mkdir, lookup and attributes', async (t) => {
      const { volume: v } = await setup(t)
      const root = await v.lookup('/')
      assert.equal(root.kind, 'dir')
      assert.equal(root.ino, 1)
      assert.equal(root.mode & S_IFDIR, S_IFDIR)
      const d = await v.mkdir('/docs', 0o750)
      assert.equal(d.mode, S_IFDIR | 0o750)
      assert.equal(d.nlink, 2)
      assert.deepEqual(await v.lookup('/docs'), d)
      assert.notEqual(d.ino, root.ino)
      assert.ok(Number.isSafeInteger(d.ino) && d.ino > 1)
      assert.deepEqual(await v.lookup('/docs/'), d, 'trailing slash names the same entry')
    })

    test('create, write, read back; size, blocks and mode', async (t) => {
      const { volume: v } = await setup(t)
      const { fh, attr } = await v.create('/a.txt', 0o640)
      assert.equal(attr.size, 0)
      assert.equal(attr.mode, S_IFREG | 0o640)
      assert.equal(await v.write(fh, 0, enc('hello world')), 11)
      assert.equal(dec(await v.read(fh, 0, 100)), 'hello world', 'a handle reads its own writes')
      assert.equal(dec(await v.read(fh, 6, 3)), 'wor')
      assert.equal((await v.read(fh, 50, 10)).length, 0, 'read past the end is empty')
      await v.release(fh)
      const a = await v.lookup('/a.txt')
      assert.equal(a.size, 11)
      assert.equal(a.blocks, 1)
      assert.equal(a.nlink, 1)
      assert.equal(dec(await readAll(v, '/a.txt')), 'hello world')
    })

    test('error codes', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/f', 'x')
      await v.mkdir('/d', 0o755)
      await put(v, '/d/inner', 'y')
      await rejects(v.lookup('/missing'), 'ENOENT')
      await rejects(v.lookup('/f/x'), 'ENOTDIR')
      await rejects(v.lookup('relative'), 'EINVAL')
      await rejects(v.mkdir(`/${'n'.repeat(256)}`, 0o755), 'ENAMETOOLONG')
      await rejects(v.lookup(`/${'é'.repeat(128)}`), 'ENAMETOOLONG')
      await v.mkdir(`/${'n'.repeat(255)}`, 0o755)
      await rejects(v.lookup(`/${'d/'.repeat(2048)}`), 'ENAMETOOLONG')
      await rejects(v.symlink('t'.repeat(4096), '/long'), 'ENAMETOOLONG')
      await rejects(v.mkdir('/a\0b', 0o755), 'EINVAL')
      // Lone surrogates have no UTF-8 form (the journal would keep U+FFFD, another name); pairs are fine.
      await rejects(v.mkdir('/a\ud800b', 0o755), 'EINVAL')
      await rejects(v.symlink('x\udc00', '/s'), 'EINVAL')
      await v.mkdir('/tree \ud83c\udf33', 0o755)
      await v.rmdir('/tree 🌳')
      await rejects(v.mkdir('/d', 0o755), 'EEXIST')
      await rejects(v.mkdir('/', 0o755), 'EEXIST')
      await rejects(v.mkdir('/nope/sub', 0o755), 'ENOENT')
      await rejects(v.mkdir('/f/sub', 0o755), 'ENOTDIR')
      await rejects(v.rmdir('/d'), 'ENOTEMPTY')
      await rejects(v.rmdir('/f'), 'ENOTDIR')
      await rejects(v.rmdir('/'), 'EBUSY')
      await rejects(v.unlink('/d'), 'EISDIR')
      await rejects(v.unlink('/missing'), 'ENOENT')
      await rejects(v.open('/d', O_RDONLY), 'EISDIR')
      await rejects(v.open('/missing', O_RDONLY), 'ENOENT')
      await rejects(v.readlink('/f'), 'EINVAL')
      await rejects(v.readdir('/f'), 'ENOTDIR')
      await rejects(v.create('/f', 0o644, O_CREAT | O_EXCL | O_RDWR), 'EEXIST')
      await rejects(v.create('/d/inner/x', 0o644), 'ENOTDIR')
      await rejects(v.truncate('/d', 0), 'EISDIR')
      await rejects(v.truncate('/f', -1), 'EINVAL')
      const ro = await v.open('/f', O_RDONLY)
      await rejects(v.write(ro, 0, enc('z')), 'EBADF')
      const wo = await v.open('/f', O_WRONLY)
      await rejects(v.read(wo, 0, 1), 'EBADF')
      await rejects(v.read(ro, -1, 1), 'EINVAL')
      await v.release(ro)
      await v.release(wo)
      await rejects(v.read(ro, 0, 1), 'EBADF')
      await rejects(v.release(ro), 'EBADF')
      await rejects(v.symlink('', '/l'), 'ENOENT')
      await rejects(v.symlink('x', '/f'), 'EEXIST')
      assert.equal(dec(await readAll(v, '/f')), 'x', 'failed calls changed nothing')
    })

    test('random-offset and sparse writes', async (t) => {
      const { volume: v } = await setup(t)
      const { fh } = await v.create('/sparse', 0o644)
      await v.write(fh, 1_000_000, enc('tail'))
      await v.write(fh, 10, enc('head'))
      assert.equal(
        (await v.getattr('/sparse', fh)).size,
        1_000_004,
        'getattr by handle shows the staged size',
      )
      assert.equal((await v.lookup('/sparse')).size, 0, 'others see nothing before commit')
      await v.release(fh)
      const all = await readAll(v, '/sparse')
      assert.equal(all.length, 1_000_004)
      assert.equal(dec(all.subarray(10, 14)), 'head')
      assert.equal(dec(all.subarray(1_000_000)), 'tail')
      assert.ok(all.subarray(0, 10).every((b) => b === 0))
      assert.ok(
        all.subarray(14, 1_000_000).every((b) => b === 0),
        'the hole reads as zeros',
      )

      // Overwrite pieces of a multi-chunk file at random offsets, compare with a model.
      const model = pattern(600_000, 7)
      await put(v, '/big', model)
      const h = await v.open('/big', O_RDWR)
      let x = 12345
      for (let i = 0; i < 40; i++) {
        x = (x * 1103515245 + 12345) >>> 0
        const off = x % 590_000
        const piece = pattern(1 + (x % 9000), i + 1)
        const n = Math.min(piece.length, model.length - off)
        model.set(piece.subarray(0, n), off)
        await v.write(h, off, piece.subarray(0, n))
      }
      assert.deepEqual(await v.read(h, 0, model.length), model)
      await v.release(h)
      assert.deepEqual(await readAll(v, '/big'), model)
    })

    test('O_APPEND, O_TRUNC and O_EXCL', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/log', 'one\n')
      const a = await v.open('/log', O_WRONLY | O_APPEND)
      await v.write(a, 0, enc('two\n'))
      await v.write(a, 0, enc('three\n'))
      await v.release(a)
      assert.equal(dec(await readAll(v, '/log')), 'one\ntwo\nthree\n')
      const tr = await v.open('/log', O_WRONLY | O_TRUNC)
      assert.equal((await v.getattr('/log', tr)).size, 0)
      assert.equal((await v.lookup('/log')).size, 14, 'O_TRUNC is staged too')
      await v.release(tr)
      assert.equal((await v.lookup('/log')).size, 0)
      const { fh } = await v.create('/new', 0o600, O_CREAT | O_EXCL | O_WRONLY)
      await v.release(fh)
      await rejects(v.create('/new', 0o600, O_CREAT | O_EXCL | O_WRONLY), 'EEXIST')
      const again = await v.open('/new2', O_CREAT | O_RDWR)
      await v.release(again)
      assert.equal((await v.lookup('/new2')).kind, 'file')
    })

    test('truncate down and up, by path and by handle', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/t', 'abcdefghij')
      await v.truncate('/t', 4)
      assert.equal(dec(await readAll(v, '/t')), 'abcd')
      await v.truncate('/t', 8)
      assert.deepEqual([...(await readAll(v, '/t'))], [...enc('abcd'), 0, 0, 0, 0])
      const fh = await v.open('/t', O_RDWR)
      await v.truncate('/t', 2, fh)
      await v.truncate('/t', 6, fh)
      assert.deepEqual(
        [...(await v.read(fh, 0, 10))],
        [...enc('ab'), 0, 0, 0, 0],
        'truncated-away bytes do not come back',
      )
      await v.write(fh, 4, enc('Z'))
      await v.release(fh)
      assert.deepEqual([...(await readAll(v, '/t'))], [...enc('ab'), 0, 0, ...enc('Z'), 0])
      await v.setattr('/t', { size: 0 })
      assert.equal((await v.lookup('/t')).size, 0)
    })

    test('rename: all the cases', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/a', 'A')
      await put(v, '/b', 'B')
      const ino = (await v.lookup('/a')).ino
      await v.rename('/a', '/c')
      await rejects(v.lookup('/a'), 'ENOENT')
      assert.equal((await v.lookup('/c')).ino, ino, 'a rename keeps the inode')
      await v.rename('/c', '/b')
      assert.equal(dec(await readAll(v, '/b')), 'A', 'file over file replaces it')
      await rejects(v.lookup('/c'), 'ENOENT')
      await v.rename('/b', '/b')
      assert.equal(dec(await readAll(v, '/b')), 'A', 'rename onto itself is a no-op')
      await put(v, '/x', 'X')
      await rejects(v.rename('/x', '/b', 1), 'EEXIST')
      await v.mkdir('/d1', 0o755)
      await v.mkdir('/d2', 0o755)
      await put(v, '/d1/in', 'in')
      await v.rename('/d1', '/d2')
      assert.equal(dec(await readAll(v, '/d2/in')), 'in', 'dir over empty dir')
      await v.mkdir('/d3', 0o755)
      await put(v, '/d3/f', 'f')
      await v.mkdir('/d4', 0o755)
      await rejects(v.rename('/d4', '/d3'), 'ENOTEMPTY')
      await rejects(v.rename('/x', '/d4'), 'EISDIR')
      await rejects(v.rename('/d4', '/x'), 'ENOTDIR')
      await v.mkdir('/d3/sub', 0o755)
      await rejects(v.rename('/d3', '/d3/sub/inside'), 'EINVAL')
      await rejects(v.rename('/d3', '/d3/inside'), 'EINVAL')
      await rejects(v.rename('/missing', '/y'), 'ENOENT')
      await rejects(v.rename('/x', '/nodir/y'), 'ENOENT')
      await v.rename('/d3/f', '/d4/g')
      assert.equal(dec(await readAll(v, '/d4/g')), 'f', 'move across directories')
    })

    test('unlink of an open file; commits after unlink never resurrect it', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/u', 'still here')
      const r = await v.open('/u', O_RDONLY)
      const w = await v.open('/u', O_RDWR)
      await v.unlink('/u')
      await rejects(v.lookup('/u'), 'ENOENT')
      assert.equal(dec(await v.read(r, 0, 100)), 'still here')
      await v.write(w, 0, enc('STILL'))
      assert.equal(dec(await v.read(w, 0, 100)), 'STILL here')
      assert.equal((await v.getattr('/u', r)).size, 10)
      await v.release(w)
      await v.release(r)
      await rejects(v.lookup('/u'), 'ENOENT')
      assert.equal((await v.readdir('/')).entries.length, 0)
    })

    test('symlink and readlink', async (t) => {
      const { volume: v } = await setup(t)
      const a = await v.symlink('../target/file', '/link')
      assert.equal(a.kind, 'symlink')
      assert.equal(a.mode & S_IFLNK, S_IFLNK)
      assert.equal(a.size, 14)
      assert.equal(await v.readlink('/link'), '../target/file')
      await rejects(v.open('/link', O_RDONLY), 'ELOOP')
      await v.rename('/link', '/link2')
      assert.equal(await v.readlink('/link2'), '../target/file')
      await v.unlink('/link2')
      await rejects(v.readlink('/link2'), 'ENOENT')
    })

    test('setattr: chmod, utimens, chown', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/s', 'data')
      const before = await v.lookup('/s')
      const a = await v.setattr('/s', { mode: 0o600 })
      assert.equal(a.mode, S_IFREG | 0o600)
      const b = await v.setattr('/s', { mtime: 1_000_000_000_000 })
      assert.equal(b.mtime, 1_000_000_000_000)
      assert.equal(b.atime, b.mtime, 'atime is mtime')
      const same = await v.setattr('/s', { uid: before.uid, gid: before.gid })
      assert.equal(same.uid, before.uid)
      await rejects(v.setattr('/s', { uid: before.uid + 1 }), 'EPERM')
      await rejects(v.setattr('/s', { gid: before.gid + 1 }), 'EPERM')
      await v.mkdir('/dir', 0o700)
      assert.equal((await v.setattr('/dir', { mode: 0o2755 })).mode, S_IFDIR | 0o2755)
      // mtime set through a handle after writing survives its commit (cp -p, touch -r).
      const fh = await v.open('/s', O_RDWR)
      await v.write(fh, 0, enc('DATA'))
      await v.setattr('/s', { mtime: 1_500_000_000_000 }, fh)
      await v.release(fh)
      const c = await v.lookup('/s')
      assert.equal(c.mtime, 1_500_000_000_000)
      assert.equal(dec(await readAll(v, '/s')), 'DATA')
    })

    test('mtime and size follow commits; clock comes from the runtime', async (t) => {
      const { volume: v, runtime } = await setup(t)
      await put(v, '/m', 'v1')
      const t1 = (await v.lookup('/m')).mtime
      assert.equal(t1, runtime.clock.now())
      runtime.advance(5000)
      const fh = await v.open('/m', O_WRONLY)
      await v.write(fh, 2, enc('++'))
      assert.equal((await v.lookup('/m')).mtime, t1)
      await v.fsync(fh)
      const a = await v.lookup('/m')
      assert.equal(a.mtime, t1 + 5000)
      assert.equal(a.size, 4)
      await v.release(fh)
    })

    test('statfs', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/f', pattern(100_000, 3))
      const s = await v.statfs()
      assert.equal(s.bsize, 4096)
      assert.equal(s.namemax, 255)
      assert.ok(s.blocks > 0)
      assert.ok(s.bfree <= s.blocks && s.bavail <= s.blocks)
      assert.ok(s.files >= 1, 'entries are counted')
    })

    test('readdir pages through 2k entries in order', async (t) => {
      const { volume: v } = await setup(t)
      await v.mkdir('/many', 0o755)
      const names: string[] = []
      for (let i = 0; i < 2100; i++) {
        const n = `f${String(i).padStart(5, '0')}`
        names.push(n)
        if (i % 2) await v.mkdir(`/many/${n}`, 0o755)
        else await v.symlink('t', `/many/${n}`)
      }
      const seen: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await v.readdir('/many', cursor, 500)
        seen.push(...page.entries.map((e) => e.name))
        cursor = page.cursor
        pages++
      } while (cursor !== undefined)
      assert.deepEqual(seen, names)
      assert.ok(pages >= 5)
      const first = await v.readdir('/many', undefined, 3)
      assert.deepEqual(
        first.entries.map((e) => [e.name, e.attr.kind]),
        [
          ['f00000', 'symlink'],
          ['f00001', 'dir'],
          ['f00002', 'symlink'],
        ],
      )
      assert.equal((await v.readdir('/', undefined, 10)).entries.length, 1)
    })

    test('isolation: a second handle sees writes only after fsync', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/iso', 'old content')
      const w = await v.open('/iso', O_RDWR)
      const r = await v.open('/iso', O_RDONLY)
      await v.write(w, 0, enc('NEW'))
      assert.equal(dec(await v.read(r, 0, 100)), 'old content')
      assert.equal(dec(await readAll(v, '/iso')), 'old content')
      await v.fsync(w)
      assert.equal(dec(await v.read(r, 0, 100)), 'NEW content')
      const h1 = (await v.history('/iso')).length
      await v.fsync(w)
      await v.flush(w)
      assert.equal((await v.history('/iso')).length, h1, 'a commit without changes writes nothing')
      await v.release(w)
      await v.release(r)
      const ro = await v.open('/iso', O_RDWR)
      await v.release(ro)
      assert.equal((await v.history('/iso')).length, h1)
    })

    test('two handles writing different ranges both survive', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/merge', '................')
      const h1 = await v.open('/merge', O_RDWR)
      const h2 = await v.open('/merge', O_RDWR)
      await v.write(h1, 0, enc('AAAA'))
      await v.write(h2, 8, enc('BBBB'))
      await v.release(h1)
      assert.equal(
        dec(await v.read(h2, 0, 100)),
        'AAAA....BBBB....',
        'h2 sees h1 commit under its own writes',
      )
      await v.release(h2)
      assert.equal(dec(await readAll(v, '/merge')), 'AAAA....BBBB....')
      // An appending handle and an overwriting one.
      const a = await v.open('/merge', O_WRONLY | O_APPEND)
      const b = await v.open('/merge', O_RDWR)
      await v.write(b, 4, enc('CC'))
      await v.write(a, 0, enc('++'))
      await v.release(a)
      await v.release(b)
      assert.equal(dec(await readAll(v, '/merge')), 'AAAACC..BBBB....++')
      // Two appenders (two processes logging to one file): both records survive, in commit order.
      await put(v, '/log', 'start\n')
      const l1 = await v.open('/log', O_WRONLY | O_APPEND)
      const l2 = await v.open('/log', O_WRONLY | O_APPEND)
      await v.write(l1, 0, enc('one-a\n'))
      await v.write(l2, 0, enc('two\n'))
      await v.write(l1, 0, enc('one-b\n'))
      await v.release(l2)
      assert.equal((await v.getattr('/log', l1)).size, 22, 'the pending appends follow the new end')
      await v.release(l1)
      assert.equal(dec(await readAll(v, '/log')), 'start\ntwo\none-a\none-b\n')
      // An appender that then writes at an offset keeps its bytes where it saw them.
      const l3 = await v.open('/log', O_RDWR | O_APPEND)
      await v.write(l3, 0, enc('three\n'))
      await put(v, '/log', 'replaced\n')
      assert.equal(dec(await v.read(l3, 0, 100)), 'replaced\nthree\n')
      await v.truncate('/log', 15, l3)
      await v.write(l3, 0, enc('T'))
      await v.release(l3)
      assert.equal(dec(await readAll(v, '/log')), 'replaced\nthree\nT')
    })

    test('writeFile, readStream, mkdirp', async (t) => {
      const { volume: v } = await setup(t)
      const big = pattern(700_000, 11)
      async function* pieces() {
        for (let i = 0; i < big.length; i += 100_000) yield big.subarray(i, i + 100_000)
      }
      const d = await v.mkdirp('/a/b/c', 0o700)
      assert.equal(d.mode, S_IFDIR | 0o700)
      assert.deepEqual(await v.mkdirp('/a/b/c'), d, 'mkdirp of an existing path is fine')
      const a = await v.writeFile('/a/b/c/big.bin', pieces(), { mode: 0o600, mtime: 1_234_000 })
      assert.equal(a.size, big.length)
      assert.equal(a.mode, S_IFREG | 0o600)
      assert.equal(a.mtime, 1_234_000)
      assert.deepEqual(await collect(v.readStream('/a/b/c/big.bin')), big)
      assert.deepEqual(
        await collect(v.readStream('/a/b/c/big.bin', 100, 200_100)),
        big.subarray(100, 200_100),
      )
      await rejects(v.writeFile('/a/b/c/big.bin', enc('x'), { exclusive: true }), 'EEXIST')
      await v.writeFile('/a/b/c/big.bin', enc('small'))
      assert.equal(dec(await readAll(v, '/a/b/c/big.bin')), 'small')
      assert.equal((await v.lookup('/a/b/c/big.bin')).mode, S_IFREG | 0o600, 'mode kept when not given')
      await rejects(v.writeFile('/a', enc('x')), 'EISDIR')
      await rejects(collect(v.readStream('/a')), 'EISDIR')
      await rejects(collect(v.readStream('/zzz')), 'ENOENT')
      await rejects(v.mkdirp('/a/b/c/big.bin/x'), 'ENOTDIR')
      await rejects(v.mkdirp('/a/b/c/big.bin'), 'EEXIST')
    })

    test('history and readAt', async (t) => {
      const { volume: v, runtime } = await setup(t)
      await put(v, '/h.txt', 'version one')
      runtime.advance(1000)
      await put(v, '/h.txt', 'version two!')
      const hist = await v.history('/h.txt')
      // One entry per change, newest first: the creation (with its first content), then a write.
      assert.deepEqual(
        hist.map((h) => [h.op, h.path]),
        [
          ['write', '/h.txt'],
          ['create', '/h.txt'],
        ],
      )
      assert.ok(hist[0]!.node !== '' && hist[0]!.node === hist[1]!.node, 'the author is recorded')
      assert.equal(hist[0]!.time, hist[1]!.time + 1000)
      assert.deepEqual(await v.history('/h.txt', 1), [hist[0]])
      const all = await v.history()
      assert.ok(all.length >= hist.length)
      assert.equal(dec(await collect(v.readAt('/h.txt', hist[1]!.version))), 'version one')
      assert.equal(
        dec(await collect(v.readAt('/h.txt', hist[0]!.version.slice(0, 12)))),
        'version two!',
        'prefixes work',
      )
      await v.unlink('/h.txt')
      assert.equal(
        dec(await collect(v.readAt('/h.txt', hist[1]!.version))),
        'version one',
        'gone paths resolve through history',
      )
      assert.deepEqual(
        (await v.history('/h.txt')).map((h) => h.op),
        ['remove', 'write', 'create'],
      )
      await rejects(collect(v.readAt('/h.txt', 'ffffffffffff')), 'ENOENT')
      await rejects(v.history('/never'), 'ENOENT')
    })

    test('gc keeps every version; verify is clean', async (t) => {
      const { volume: v } = await setup(t)
      await put(v, '/g', pattern(300_000, 1))
      await put(v, '/g', pattern(300_000, 2))
      const w = await v.open('/g', O_RDWR)
      await v.write(w, 5, enc('pending'))
      await v.gc()
      await v.release(w)
      const expected = pattern(300_000, 2)
      expected.set(enc('pending'), 5)
      assert.deepEqual(await readAll(v, '/g'), expected)
      for (const h of await v.history('/g')) {
        assert.equal((await collect(v.readAt('/g', h.version))).length, 300_000)
      }
      const report = await v.verify()
      assert.deepEqual([report.corrupt, report.missing], [[], []])
    })

    test('attributes survive closing and reopening the volume', async (t) => {
      const fx = await setup(t)
      if (!fx.reopen) return t.skip('volatile variant')
      const v = fx.volume
      await v.mkdir('/keep', 0o711)
      await put(v, '/keep/f', pattern(200_000, 5), 0o604)
      await v.setattr('/keep/f', { mtime: 1_700_000_000_000 })
      await v.symlink('f', '/keep/l')
      await put(v, '/keep/g', 'g')
      const empty = await v.create('/keep/empty', 0o600)
      await v.release(empty.fh)
      const open = await v.open('/keep/g', O_RDWR)
      await v.write(open, 0, enc('closing commits this'))
      const v2 = await fx.reopen()
      t.after(() => v2.close().catch(() => {}))
      assert.equal((await v2.lookup('/keep')).mode, S_IFDIR | 0o711)
      const f = await v2.lookup('/keep/f')
      assert.equal(f.mode, S_IFREG | 0o604)
      assert.equal(f.size, 200_000)
      assert.equal(f.mtime, 1_700_000_000_000)
      assert.deepEqual(await readAll(v2, '/keep/f'), pattern(200_000, 5))
      assert.equal(dec(await readAll(v2, '/keep/g')), 'closing commits this', 'close commits open handles')
      assert.equal(await v2.readlink('/keep/l'), 'f')
      const e = await v2.lookup('/keep/empty')
      assert.deepEqual(
        [e.kind, e.size, e.mode],
        ['file', 0, S_IFREG | 0o600],
        'a created, unwritten file persists',
      )
      assert.deepEqual((await v2.verify()).corrupt, [])
    })
  })
}
