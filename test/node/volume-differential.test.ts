/**
 * Seeded differential test: random operation sequences applied to the
 * memory Volume and to a real directory (node:fs/promises); every call must
 * succeed or fail the same way, and the trees (kinds, modes, sizes, bytes,
 * link targets) must match. Where branch-on-write legitimately differs from
 * POSIX (other handles and path reads see writes only after commit), the
 * generator avoids those observations while a file is open.
 */
import assert from 'node:assert/strict'
import { constants } from 'node:fs'
import * as fs from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { FsError } from '../../node/errors.js'
import { openMemoryVolume } from '../../node/open-tree.js'
import type { Volume } from '../../node/volume-types.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { tmpDir } from '../helpers/tmp.js'
import { readAll } from './helpers.js'

const { O_RDWR, O_WRONLY, O_APPEND, O_TRUNC, O_CREAT } = constants
const NAMES = ['a', 'b', 'c.txt']
// 20 seeds x 800 operations by default (~0.5 s of CPU per seed); BT_DIFF_SEEDS=N and BT_DIFF_OPS=N widen the run when hunting bugs.
const SEEDS = Array.from({ length: Number(process.env.BT_DIFF_SEEDS ?? 20) }, (_, i) => i + 1)
const OPS = Number(process.env.BT_DIFF_OPS ?? 800)

class Rng {
  constructor(private x: number) {}
  next(n: number): number {
    this.x ^= this.x << 13
    this.x ^= this.x >>> 17
    this.x ^= this.x << 5
    return (this.x >>> 0) % n
  }
  pick<T>(a: readonly T[]): T {
    return a[this.next(a.length)]!
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n)
    for (let i = 0; i < n; i++) b[i] = this.next(256)
    return b
  }
}

interface OpenPair {
  id: string
  fh: number
  real: fs.FileHandle
  readable: boolean
}

/** Outcome of a call: 'ok' + value, or the error code. */
async function outcome<T>(
  p: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
  try {
    return { ok: true, value: await p() }
  } catch (e) {
    const code = (e as { code?: string }).code
    if (e instanceof FsError || typeof code === 'string') return { ok: false, code: code! }
    throw e
  }
}

async function compareTrees(v: Volume, root: string, path = '/'): Promise<void> {
  const realNames = (await fs.readdir(join(root, path))).sort()
  const names: string[] = []
  let cursor: string | undefined
  do {
    const page = await v.readdir(path, cursor, 2)
    names.push(...page.entries.map((e) => e.name))
    cursor = page.cursor
  } while (cursor !== undefined)
  assert.deepEqual(names.sort(), realNames, `listing of ${path}`)
  for (const name of names) {
    const p = path === '/' ? `/${name}` : `${path}/${name}`
    const st = await fs.lstat(join(root, p))
    const a = await v.lookup(p)
    assert.equal(a.mode, st.mode, `mode of ${p}`)
    if (st.isDirectory()) await compareTrees(v, root, p)
    else if (st.isSymbolicLink()) assert.equal(await v.readlink(p), await fs.readlink(join(root, p)))
    else {
      assert.equal(a.size, st.size, `size of ${p}`)
      assert.deepEqual(Buffer.from(await readAll(v, p)), await fs.readFile(join(root, p)), `bytes of ${p}`)
    }
  }
}

for (const seed of SEEDS) {
  test(`differential against a real directory, seed ${seed}`, async (t) => {
    const root = tmpDir(t)
    const oldMask = process.umask(0)
    t.after(() => process.umask(oldMask))
    const v = await openMemoryVolume({
      nodeId: 'diff',
      key: new Uint8Array(32).fill(seed),
      runtime: new ManualRuntime(seed),
    })
    t.after(() => v.close().catch(() => {}))
    const rng = new Rng(seed * 7919)
    const open: OpenPair[] = []
    const randomPath = () => {
      const depth = 1 + rng.next(3)
      return '/' + Array.from({ length: depth }, () => rng.pick(NAMES)).join('/')
    }
    /** Whether any proper prefix of path is a symlink on the real side (we do not follow them). */
    const viaSymlink = async (path: string) => {
      const parts = path.split('/').filter(Boolean)
      for (let i = 1; i < parts.length; i++) {
        const st = await fs.lstat(join(root, ...parts.slice(0, i))).catch(() => undefined)
        if (st?.isSymbolicLink()) return true
      }
      return false
    }
    const idOf = async (path: string) =>
      (await outcome(() => v.lookup(path))).ok ? (await v.lookup(path)).id : undefined
    const isOpen = async (path: string) => {
      const id = await idOf(path)
      return id !== undefined && open.some((o) => o.id === id)
    }
    const same = async <A, B>(what: string, ours: () => Promise<A>, theirs: () => Promise<B>) => {
      const a = await outcome(ours)
      const b = await outcome(theirs)
      assert.equal(a.ok ? 'ok' : a.code, b.ok ? 'ok' : b.code, `${what}`)
      return a.ok && b.ok ? { ours: a.value, theirs: b.value } : undefined
    }

    for (let i = 0; i < OPS; i++) {
      const op = rng.next(14)
      const p = randomPath()
      if (await viaSymlink(p)) continue
      const real = join(root, p)
      const mode = rng.pick([0o644, 0o600, 0o755, 0o700])
      // open, truncate and create follow a symlink on the real side; the Volume leaves that to its caller.
      const isLink = (await fs.lstat(real).catch(() => undefined))?.isSymbolicLink() ?? false
      const what = `seed ${seed} op ${i}`
      switch (op) {
        case 0:
          await same(
            `${what} mkdir ${p}`,
            () => v.mkdir(p, mode),
            () => fs.mkdir(real, { mode }),
          )
          break
        case 1: {
          if (isLink || (await isOpen(p))) break
          const data = rng.bytes(rng.next(3) === 0 ? 70_000 : rng.next(3000))
          await same(
            `${what} write ${p}`,
            async () => {
              const { fh } = await v.create(p, mode, O_CREAT | O_WRONLY | O_TRUNC)
              await v.write(fh, 0, data)
              await v.release(fh)
            },
            () => fs.writeFile(real, data, { mode }),
          )
          break
        }
        case 2: {
          if (isLink || open.length >= 3 || (await isOpen(p))) break
          const flags = rng.pick([O_RDWR, O_WRONLY | O_APPEND, O_RDWR | O_TRUNC])
          const r = await same(
            `${what} open ${p}`,
            () => v.open(p, flags),
            () => fs.open(real, flags),
          )
          if (r)
            open.push({
              id: (await v.lookup(p)).id,
              fh: r.ours,
              real: r.theirs,
              readable: (flags & 3) === O_RDWR,
            })
          break
        }
        case 3:
        case 4: {
          const h = open.length ? rng.pick(open) : undefined
          if (!h) break
          const st = await h.real.stat()
          const off = rng.next(st.size + 2000)
          const data = rng.bytes(1 + rng.next(rng.next(4) === 0 ? 100_000 : 2000))
          await v.write(h.fh, off, data)
          await h.real.write(data, 0, data.length, off)
          break
        }
        case 5: {
          const h = open.find((o) => o.readable)
          if (!h) break
          const st = await h.real.stat()
          assert.equal((await v.getattr('/', h.fh)).size, st.size, `${what} size through handle`)
          const off = rng.next(st.size + 10)
          const len = rng.next(80_000)
          const buf = Buffer.alloc(len)
          const { bytesRead } = await h.real.read(buf, 0, len, off)
          assert.deepEqual(
            Buffer.from(await v.read(h.fh, off, len)),
            buf.subarray(0, bytesRead),
            `${what} read`,
          )
          break
        }
        case 6: {
          const h = open.length ? rng.pick(open) : undefined
          if (!h) break
          const size = rng.next(90_000)
          await v.truncate('/', size, h.fh)
          await h.real.truncate(size)
          break
        }
        case 7: {
          const h = open.length ? open.splice(rng.next(open.length), 1)[0]! : undefined
          if (!h) break
          if (rng.next(2)) await v.fsync(h.fh)
          await v.release(h.fh)
          await h.real.close()
          break
        }
        case 8: {
          if (isLink || (await isOpen(p))) break
          const size = rng.next(5000)
          await same(
            `${what} truncate ${p}`,
            () => v.truncate(p, size),
            () => fs.truncate(real, size),
          )
          break
        }
        case 9: {
          const to = randomPath()
          if (await viaSymlink(to)) break
          await same(
            `${what} rename ${p} ${to}`,
            () => v.rename(p, to),
            () => fs.rename(real, join(root, to)),
          )
          break
        }
        case 10:
          await same(
            `${what} unlink ${p}`,
            () => v.unlink(p),
            () => fs.unlink(real),
          )
          break
        case 11:
          await same(
            `${what} rmdir ${p}`,
            () => v.rmdir(p),
            () => fs.rmdir(real),
          )
          break
        case 12: {
          if (isLink) break
          await same(
            `${what} chmod ${p}`,
            () => v.setattr(p, { mode }),
            () => fs.chmod(real, mode),
          )
          break
        }
        case 13:
          await same(
            `${what} symlink ${p}`,
            () => v.symlink('nowhere', p),
            () => fs.symlink('nowhere', real),
          )
          break
      }
      if (open.length === 0 && rng.next(25) === 0) await compareTrees(v, root)
    }
    for (const h of open) {
      await v.release(h.fh)
      await h.real.close()
    }
    await compareTrees(v, root)
  })
}
