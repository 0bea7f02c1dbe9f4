/**
 * Seeded differential test of the mount: one random sequence of filesystem
 * operations (create, write at offsets, append, truncate, rename, mkdir,
 * rmdir, unlink, symlink, chmod, writes through one handle) is applied to a
 * plain local directory and to a mounted disk volume. Every operation must
 * give the same result (success or the same errno), and at checkpoints the
 * two trees must be identical: names, kinds, permission bits, sizes,
 * contents and symlink targets.
 *
 * The operations run from this process with fs.promises, one at a time
 * (never synchronous calls: this process serves the mount). Seeds share a
 * mount (each in a fresh directory): every fourth seed a disk volume, the
 * others a memory volume. A seed costs ~4-6 s of CPU on a memory volume and
 * ~7-9 s on a disk volume (measured under load 15; most of it the volume
 * serving the mount), so CI runs 10 seeds x 1500 operations.
 * `BT_DIFF_SEED=N` runs seed N alone; `BT_DIFF_SEEDS=K` runs K seeds;
 * `BT_DIFF_OPS=N` sets the operations per seed.
 */
import assert from 'node:assert/strict'
import { constants } from 'node:fs'
import {
  chmod,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rmdir,
  symlink,
  truncate,
  unlink,
} from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { describe, test } from 'node:test'
import { fuseSkipReason, type Mounted, withMount } from '../helpers/fuse.js'

const skip = fuseSkipReason()
const ONE = process.env.BT_DIFF_SEED
const SEEDS = ONE !== undefined ? [Number(ONE)] : range(Number(process.env.BT_DIFF_SEEDS ?? 10))
const OPS = Number(process.env.BT_DIFF_OPS ?? 1500)
/** Trees compared every CHECK_EVERY operations: names, kinds, modes, sizes, link targets; bytes too every CONTENT_EVERY and at the end. */
const CHECK_EVERY = 250
const CONTENT_EVERY = 500
const TEST_FILE = 'dist/test/fuse/diff-mount.test.js'

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1)
}

/** mulberry32: small, seedable, the same sequence on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One operation, described for the failure message and applied to a root directory. */
interface Op {
  text: string
  /** The directory this operation creates, if it is a mkdir. */
  mkdir?: string
  run(root: string): Promise<void>
}

/** A small name space (depth ≤ 3, five names per level) so operations collide and fail often. */
function generator(seed: number) {
  const r = prng(seed)
  const int = (n: number) => Math.floor(r() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  // Directories are mostly called d or e and files a, b or f.txt, with a few crossings (so
  // ENOTDIR, EISDIR and friends happen without drowning everything else).
  const fileNames = ['a', 'b', 'f.txt', 'a', 'b', 'f.txt', 'a', 'b', 'f.txt', 'd'] as const
  const dirNames = ['d', 'e', 'd', 'e', 'd', 'e', 'd', 'e', 'd', 'a'] as const
  const anyNames = [...fileNames, ...dirNames] as const
  // Mostly under a directory that was created (it may have moved or gone since), sometimes anywhere.
  const dirs: string[] = []
  const path = (last: readonly string[] = anyNames) => {
    if (dirs.length > 0 && r() < 0.75) return `${pick(dirs)}/${pick(last)}`
    const depth = pick([1, 1, 2, 3])
    return [...Array.from({ length: depth - 1 }, () => pick(dirNames)), pick(last)].join('/')
  }
  const modes = [0o644, 0o600, 0o755, 0o700, 0o444, 0o640, 0o751] as const
  const data = (n: number) => {
    const b = Buffer.alloc(n)
    const fill = int(256)
    for (let i = 0; i < n; i++) b[i] = (fill + i * 7 + (i >> 9)) & 0xff
    return b
  }
  const size = () => pick([0, 1, 100, 4095, 4096, 5000, 70_000, 140_000])
  const offset = () => pick([0, 0, 10, 4096, 65_536, 131_072, 300_000])

  /** The next operation; `made` reports a directory the previous one created. */
  return (made?: string): Op => {
    if (made) {
      // Keep the list fresh: old entries may have been moved or removed since.
      if (dirs.length < 40) dirs.push(made)
      else dirs[int(40)] = made
    }
    const kind = int(14)
    const p = path([7, 8, 13].includes(kind) ? dirNames : [5, 6, 11].includes(kind) ? anyNames : fileNames)
    switch (kind) {
      case 0:
      case 1: {
        const mode = pick(modes)
        const flag = pick(['w', 'wx', 'a'])
        const buf = data(size())
        return {
          text: `open(${p}, ${flag}, ${mode.toString(8)}) + write ${buf.length} + close`,
          run: async (root) => {
            const fh = await open(join(root, p), flag, mode)
            try {
              await fh.write(buf, 0, buf.length, flag === 'a' ? null : 0)
            } finally {
              await fh.close()
            }
          },
        }
      }
      case 2:
      case 3: {
        const at = offset()
        const buf = data(1 + int(20_000))
        return {
          text: `write ${buf.length} at ${at} into ${p} (r+)`,
          run: async (root) => {
            const fh = await open(join(root, p), 'r+')
            try {
              await fh.write(buf, 0, buf.length, at)
            } finally {
              await fh.close()
            }
          },
        }
      }
      case 4: {
        const n = size()
        return { text: `truncate(${p}, ${n})`, run: (root) => truncate(join(root, p), n) }
      }
      case 5:
      case 6: {
        const to = path(anyNames)
        return { text: `rename(${p}, ${to})`, run: (root) => rename(join(root, p), join(root, to)) }
      }
      case 7:
      case 13: {
        const mode = pick([0o755, 0o700, 0o750])
        return {
          text: `mkdir(${p}, ${mode.toString(8)})`,
          mkdir: p,
          run: async (root) => {
            await mkdir(join(root, p), mode)
          },
        }
      }
      case 8:
        return { text: `rmdir(${p})`, run: (root) => rmdir(join(root, p)) }
      case 9:
        return { text: `unlink(${p})`, run: (root) => unlink(join(root, p)) }
      case 10: {
        // Relative targets inside the tree (often dangling); absolute ones would leave it.
        const target = pick(['a', 'b', '../a', 'd/b', '../../f.txt', 'f.txt', 'e'])
        return { text: `symlink(${target}, ${p})`, run: (root) => symlink(target, join(root, p)) }
      }
      case 11: {
        const mode = pick(modes)
        return { text: `chmod(${p}, ${mode.toString(8)})`, run: (root) => chmod(join(root, p), mode) }
      }
      default: {
        // Several writes and an ftruncate through one handle, then close.
        const a = offset()
        const b = offset()
        const bufA = data(1 + int(9000))
        const bufB = data(1 + int(9000))
        const cut = size()
        return {
          text: `open(${p}, r+): write ${bufA.length}@${a}, ftruncate ${cut}, write ${bufB.length}@${b}, close`,
          run: async (root) => {
            const fh = await open(join(root, p), constants.O_RDWR)
            try {
              await fh.write(bufA, 0, bufA.length, a)
              await fh.truncate(cut)
              await fh.write(bufB, 0, bufB.length, b)
            } finally {
              await fh.close()
            }
          },
        }
      }
    }
  }
}

async function outcome(op: Op, root: string): Promise<string> {
  try {
    await op.run(root)
    return 'OK'
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (!code) throw e
    return code
  }
}

/** Everything the comparison covers, as one sorted list of lines. */
async function snapshot(root: string, contents = true): Promise<string[]> {
  const out: string[] = []
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort()
    for (const name of names) {
      const p = rel ? `${rel}/${name}` : name
      const full = join(root, p)
      const st = await lstat(full)
      const perm = (st.mode & 0o7777).toString(8)
      if (st.isDirectory()) {
        out.push(`dir ${p} ${perm}`)
        await walk(p)
      } else if (st.isSymbolicLink()) {
        out.push(`symlink ${p} -> ${await readlink(full)}`)
      } else if (!contents) {
        out.push(`file ${p} ${perm} ${st.size}`)
      } else {
        const bytes = await readFile(full)
        assert.equal(bytes.length, st.size, `${p}: size by stat and bytes read agree`)
        const sum = bytes.reduce((h, x) => (Math.imul(h, 31) + x) >>> 0, 7)
        out.push(`file ${p} ${perm} ${st.size} ${sum.toString(16)}`)
      }
    }
  }
  await walk('')
  return out
}

describe('differential: random operations on the mount and on a local directory', { skip }, () => {
  test(`${SEEDS.length} seeds x ${OPS} operations`, { timeout: 600_000 }, async (t) => {
    // One mount per kind of volume for all seeds (each in a fresh directory): a quarter of the seeds
    // on a disk volume (SQLite chunks, staging spilled to disk), the rest on a memory volume (cheaper).
    const mounts = new Map<'disk' | 'memory', Mounted>()
    const mountFor = async (seed: number) => {
      const kind = seed % 4 === 1 ? 'disk' : 'memory'
      if (!mounts.has(kind)) mounts.set(kind, await withMount(t, { disk: kind === 'disk' }))
      return { kind, m: mounts.get(kind)! }
    }
    for (const seed of SEEDS) {
      const { kind, m } = await mountFor(seed)
      const local = join(m.scratch, `s${seed}`)
      const mounted = join(m.dir, `s${seed}`)
      await mkdir(local)
      await mkdir(mounted)
      const next = generator(seed)
      const repro = `BT_DIFF_SEED=${seed} BT_DIFF_OPS=${OPS} node --test ${TEST_FILE}`
      const log: string[] = []
      const tally = new Map<string, number>()
      let entries = 0
      let made: string | undefined
      // Where a seed's time goes (ms): the local directory, the mount, the tree comparisons.
      const spent = { local: 0, mount: 0, compare: 0 }
      const cpu0 = process.cpuUsage()
      const timed = async <T>(k: keyof typeof spent, p: () => Promise<T>): Promise<T> => {
        const t0 = performance.now()
        try {
          return await p()
        } finally {
          spent[k] += performance.now() - t0
        }
      }
      for (let i = 1; i <= OPS; i++) {
        const op = next(made)
        const want = await timed('local', () => outcome(op, local))
        const got = await timed('mount', () => outcome(op, mounted))
        tally.set(want, (tally.get(want) ?? 0) + 1)
        made = want === 'OK' ? op.mkdir : undefined
        log.push(`${i}: ${op.text} -> ${want}`)
        if (want !== got)
          assert.fail(
            `seed ${seed}, op ${i}: ${op.text}: local ${want}, mount ${got}\n` +
              `last ops:\n  ${log.slice(-8).join('\n  ')}\nreproduce: ${repro}`,
          )
        if (i % CHECK_EVERY === 0 || i === OPS) {
          const bytes = i % CONTENT_EVERY === 0 || i === OPS
          const [a, b] = await timed('compare', async () => [
            await snapshot(local, bytes),
            await snapshot(mounted, bytes),
          ])
          assert.deepEqual(b, a, `seed ${seed}: trees differ after op ${i}\nreproduce: ${repro}`)
          entries = a.length
        }
      }
      const cpu = process.cpuUsage(cpu0)
      t.diagnostic(
        `seed ${seed} (${kind} volume): ${JSON.stringify(Object.fromEntries(tally))}, ${entries} entries at the end; ` +
          `ms local ${spent.local.toFixed(0)}, mount ${spent.mount.toFixed(0)}, compare ${spent.compare.toFixed(0)}; ` +
          `cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`,
      )
      // The generator must keep the trees busy: mostly successes, a tree that is not empty.
      assert.ok((tally.get('OK') ?? 0) > OPS / 6, `seed ${seed}: too few operations succeeded`)
      assert.ok(entries > 3, `seed ${seed}: the tree ended (nearly) empty`)
    }
  })
})
