/**
 * The adapter's own behaviour: errors as errnos (and EIO with a log line for
 * anything that is not an FsError), read-ahead (unit level, with a counting
 * volume, and through a real mount), files larger than the staging memory,
 * and unmounting while a file is open with staged writes.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { ReadAhead } from '../../fuse/read-ahead.js'
import { FsError } from '../../node/errors.js'
import { openMemoryVolume } from '../../node/open-tree.js'
import type { Volume } from '../../node/volume-types.js'
import { systemRuntime } from '../../sync/runtime.js'
import { fuseSkipReason, shOk, withMount } from '../helpers/fuse.js'
import { checkpoint, pyIn } from './py.js'

const skip = fuseSkipReason()

/** A volume whose reads come from a buffer that the test can swap, counting calls. */
function fakeVolume(initial: Uint8Array) {
  const state = { data: initial, reads: 0 }
  const v = {
    async read(_fh: number, offset: number, length: number) {
      state.reads++
      return state.data.slice(offset, offset + length)
    },
  } as unknown as Volume
  return { v, state }
}

describe('fuse: read-ahead', { timeout: 600_000 }, () => {
  test('sequential reads are served from prefetched windows; random reads pass through', async () => {
    const data = randomBytes(8 << 20)
    const { v, state } = fakeVolume(data)
    const ra = new ReadAhead(v)
    const K = 128 * 1024
    for (let off = 0; off < data.length; off += K) {
      const got = await ra.read(1, off, K)
      assert.ok(Buffer.from(got).equals(data.subarray(off, off + K)), `bytes at ${off}`)
    }
    assert.ok(ra.stats.hits > 40, `hits ${ra.stats.hits}`)
    assert.ok(state.reads < 30, `volume reads ${state.reads} for 64 requests`)
    // Past the end: a short read, then nothing.
    assert.equal((await ra.read(1, data.length - 10, K)).length, 10)
    const before = state.reads
    for (const off of [5 * K, 1 * K, 7 * K, 3 * K]) {
      const got = await ra.read(2, off, 4096)
      assert.ok(Buffer.from(got).equals(data.subarray(off, off + 4096)))
    }
    assert.equal(state.reads - before, 4, 'random reads go straight to the volume')
  })

  test('a stream whose requests arrive reordered (libfuse threads) still reads ahead', async () => {
    const data = randomBytes(8 << 20)
    const { v, state } = fakeVolume(data)
    const ra = new ReadAhead(v)
    const K = 128 * 1024
    // 0 1 3 2 5 4 7 6 ...: neighbours swapped, as the kernel's read-ahead reaches a multithreaded server.
    const order: number[] = []
    for (let i = 0; i < 64; i += 2) order.push(...(i === 0 ? [0, 1] : [i + 1, i]))
    for (const i of order) {
      const got = await ra.read(1, i * K, K)
      assert.ok(Buffer.from(got).equals(data.subarray(i * K, (i + 1) * K)), `bytes of request ${i}`)
    }
    assert.ok(ra.stats.hits > 50, `hits ${ra.stats.hits}`)
    assert.ok(state.reads < 20, `volume reads ${state.reads} for 64 requests`)
  })

  test('a change to the file drops prefetched windows (never older bytes than a direct read)', async () => {
    const { v, state } = fakeVolume(new Uint8Array(4 << 20).fill(1))
    const ra = new ReadAhead(v)
    const K = 128 * 1024
    for (let off = 0; off < 4 * K; off += K) await ra.read(1, off, K)
    assert.ok(ra.stats.prefetches > 0)
    state.data = new Uint8Array(4 << 20).fill(2)
    ra.invalidate()
    const got = await ra.read(1, 4 * K, K)
    assert.ok(
      got.every((b) => b === 2),
      'the read after the change sees the new bytes',
    )
    ra.forget(1)
    ra.forget(2)
  })
})

describe('fuse: adapter', { skip, timeout: 600_000 }, () => {
  test('FsErrors become their errno; other failures become EIO and a log line', async (t) => {
    const inner = await openMemoryVolume({ nodeId: 'n', key: randomBytes(32), runtime: systemRuntime() })
    t.after(() => inner.close())
    await inner.writeFile('/f', new TextEncoder().encode('data'))
    const volume = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'read' || prop === 'readShared')
          return async () => Promise.reject(new Error('disk on fire'))
        if (prop === 'lookup')
          return async (path: string) => {
            if (path === '/secret') throw new FsError('EACCES', path)
            return target.lookup(path)
          }
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const lines: string[] = []
    const { dir } = await withMount(t, { volume, log: (l) => lines.push(l) })
    await pyIn(
      dir,
      `
expect('EACCES', os.stat, 'secret')
expect('EIO', read, 'f')
`,
    )
    assert.ok(
      lines.some((l) => /read \/f failed, answering EIO: Error: disk on fire/.test(l)),
      lines.join('\n'),
    )
  })

  test("a read-only mount (a reader's tree) serves reads and answers EROFS to every change", async (t) => {
    const { dir, volume } = await withMount(t, { readOnly: true })
    await volume.writeFile('/f', new TextEncoder().encode('data'))
    await volume.mkdir('/d', 0o755)
    await pyIn(
      dir,
      `
assert read('f') == b'data'
expect('EROFS', lambda p: open(p, 'w'), 'f')
expect('EROFS', lambda p: open(p, 'w'), 'new')
expect('EROFS', os.mkdir, 'd2')
expect('EROFS', os.rename, 'f', 'g')
expect('EROFS', os.unlink, 'f')
expect('EROFS', os.rmdir, 'd')
expect('EROFS', os.chmod, 'f', 0o600)
expect('EROFS', os.symlink, 'f', 'l')
`,
    )
    let back = ''
    for await (const c of volume.readStream('/f')) back += new TextDecoder().decode(c)
    assert.equal(back, 'data')
    assert.deepEqual(
      (await volume.readdir('/')).entries.map((e) => e.name),
      ['d', 'f'],
    )
  })

  test('a file larger than the staging memory goes through the mount intact (disk volume)', async (t) => {
    const { dir, volume, mount } = await withMount(t, { disk: true })
    const mib = Number(process.env.BT_FUSE_BIG_MIB ?? 48)
    const sums = await shOk(
      `cd ${dir} && head -c ${mib}M /dev/urandom | tee big | sha256sum && sha256sum < big && cat big > /dev/null`,
      { timeoutMs: 300_000 },
    )
    const [written, readBack] = sums
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[0])
    assert.equal(readBack, written)
    const h = createHash('sha256')
    for await (const c of volume.readStream('/big')) h.update(c)
    assert.equal(h.digest('hex'), written, 'the committed content is what was written')
    assert.equal((await volume.lookup('/big')).size, mib << 20)
    assert.ok(mount.stats.prefetches > 0, 'sequential reads were prefetched')
  })

  test('unmount commits what open files staged; a lazy unmount keeps serving them until they close', async (t) => {
    const { dir, volume, mount } = await withMount(t)
    const text = async (p: string) => {
      const parts: Uint8Array[] = []
      for await (const c of volume.readStream(p)) parts.push(c)
      return Buffer.concat(parts).toString()
    }
    const script = pyIn(
      dir,
      `
fd = os.open('open.txt', os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b'staged, not closed')
checkpoint('written')
# Unmounted lazily meanwhile: this process is still inside and its handle still works.
os.write(fd, b' + more')
assert os.pread(fd, 100, 0) == b'staged, not closed + more'
os.close(fd)
`,
    )
    await checkpoint(volume, 'written', async () => {
      assert.equal(await text('/open.txt'), '', 'nothing committed yet')
      await mount.unmount({ lazy: true })
      assert.equal(await text('/open.txt'), 'staged, not closed', 'the unmount committed the staged write')
    })
    await script
    assert.equal(
      await text('/open.txt'),
      'staged, not closed + more',
      'the close after the lazy unmount committed',
    )
  })
})
