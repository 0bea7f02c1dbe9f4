/**
 * Volume benchmarks:
 *  1. copy-on-write edit: 1 MiB written into the middle of a large file and
 *     committed, beside the baseline of re-ingesting the whole modified file
 *     (what a whole-file syncer such as Syncthing does: re-hash everything);
 *  2. small files: create + write 4 KiB + close through the Volume, beside
 *     node:fs writing the same files to a local directory.
 *
 * Usage: node dist/bench/volume-ops.js [--quick] [--size-mib N] [--files N]
 */
import { randomBytes } from 'node:crypto'
import { constants, mkdtempSync, rmSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDiskVolume } from '../node/open-tree.js'
import { systemRuntime } from '../sync/runtime.js'
import { benchArgs } from './args.js'

const MiB = 1024 * 1024
const opts = benchArgs(
  'volume-ops',
  'Copy-on-write edit of a large file and small-file creates through the Volume.',
  {
    'size-mib': { full: [1024], quick: [8], help: 'large file size in MiB' },
    files: { full: [3000], quick: [100], help: 'small files to create' },
  },
)
const sizeMiB = opts['size-mib'][0]!
const files = opts.files[0]!

async function* randomStream(bytes: number): AsyncGenerator<Uint8Array> {
  for (let done = 0; done < bytes; done += MiB) yield randomBytes(Math.min(MiB, bytes - done))
}

const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9
const fmt = (n: number, d = 2) => n.toFixed(d)

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'bt-bench-volume-'))
  try {
    const v = await openDiskVolume({
      dir: join(root, 'vol'),
      nodeId: 'bench',
      key: randomBytes(32),
      runtime: systemRuntime(),
    })
    const size = sizeMiB * MiB

    let t0 = process.hrtime.bigint()
    await v.writeFile('/big', randomStream(size))
    const ingest = secs(t0)
    console.log(`ingest ${sizeMiB} MiB via writeFile: ${fmt(ingest)} s (${fmt(sizeMiB / ingest, 0)} MiB/s)`)

    const storedBefore = v.store.stats().storedBytes
    const fh = await v.open('/big', constants.O_RDWR)
    const patch = randomBytes(MiB)
    t0 = process.hrtime.bigint()
    await v.write(fh, Math.floor(size / 2) - 12345, patch)
    await v.fsync(fh)
    const cow = secs(t0)
    await v.release(fh)
    const newBytes = v.store.stats().storedBytes - storedBefore

    t0 = process.hrtime.bigint()
    await v.writeFile('/copy', v.readStream('/big'))
    const full = secs(t0)
    console.log(
      `cow edit: 1 MiB into ${sizeMiB} MiB, commit ${fmt(cow * 1000, 1)} ms, new chunk bytes ${fmt(newBytes / MiB)} MiB` +
        ` | baseline whole-file re-ingest ${fmt(full * 1000, 0)} ms (${fmt(full / cow, 0)}x slower)`,
    )

    await v.mkdir('/small', 0o755)
    const data = randomBytes(4096)
    t0 = process.hrtime.bigint()
    for (let i = 0; i < files; i++) {
      const { fh: h } = await v.create(`/small/f${i}`, 0o644)
      await v.write(h, 0, data)
      await v.release(h)
    }
    const ours = secs(t0)
    await mkdir(join(root, 'plain'))
    t0 = process.hrtime.bigint()
    for (let i = 0; i < files; i++) await writeFile(join(root, 'plain', `f${i}`), data)
    const plain = secs(t0)
    console.log(
      `small files: ${files} x (create + 4 KiB + close): ${fmt(files / ours, 0)} files/s` +
        ` | baseline node:fs to local disk ${fmt(files / plain, 0)} files/s`,
    )
    await v.close()
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
