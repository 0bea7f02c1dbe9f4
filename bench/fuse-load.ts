/**
 * The workload of bench/fuse-mount, run as a child process against one
 * directory (a FUSE mount or a plain local directory) with async fs calls
 * only. It never shares a process with the FUSE server it measures: a
 * synchronous call on a mount from the serving process deadlocks it, and an
 * async load generator in the same process would compete for its event loop.
 *
 * Usage: node dist/bench/fuse-load.js '{"dir":..,"files":..,"bigMiB":..,"randomReads":..}'
 * Prints `phase NAME` before each phase (the parent samples its own CPU time
 * there: it is the FUSE server) and `phase end`, then one JSON line:
 * { createPerSec, statPerSec, writeMBps, readMBps, randomReadPerSec }.
 */
import { mkdir, open, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

interface LoadConfig {
  dir: string
  files: number
  bigMiB: number
  randomReads: number
}

const MiB = 1024 * 1024
const cfg = JSON.parse(process.argv[2] ?? '{}') as LoadConfig
const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9
/** Phase names, in order (the parent reads these markers). */
export type Phase = 'create' | 'stat' | 'write' | 'read' | 'random' | 'end'
const phase = (name: Phase) => process.stdout.write(`phase ${name}\n`)

/** A small deterministic PRNG (mulberry32): the same offsets for every target. */
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

/** 4 KiB, different for every file (no dedup shortcut in the store). */
function smallContent(i: number): Buffer {
  const b = Buffer.alloc(4096)
  const r = prng(i + 1)
  for (let o = 0; o < b.length; o += 4) b.writeUInt32LE((r() * 2 ** 32) >>> 0, o)
  return b
}

async function main(): Promise<void> {
  const small = join(cfg.dir, 'small')
  await mkdir(small)
  const contents = Array.from({ length: Math.min(cfg.files, 64) }, (_, i) => smallContent(i))
  const content = (i: number) => {
    const c = contents[i % contents.length]!
    c.writeUInt32LE(i, 0) // distinct per file
    return c
  }

  phase('create')
  let t0 = process.hrtime.bigint()
  for (let i = 0; i < cfg.files; i++) await writeFile(join(small, `f${i}`), content(i))
  const createPerSec = cfg.files / secs(t0)

  phase('stat')
  t0 = process.hrtime.bigint()
  for (let i = 0; i < cfg.files; i++) await stat(join(small, `f${i}`))
  const statPerSec = cfg.files / secs(t0)

  // Sequential write: 1 MiB writes (the kernel splits them into max_write requests), then close.
  const big = join(cfg.dir, 'big')
  const block = Buffer.alloc(MiB)
  const r = prng(42)
  for (let o = 0; o < block.length; o += 4) block.writeUInt32LE((r() * 2 ** 32) >>> 0, o)
  phase('write')
  t0 = process.hrtime.bigint()
  let fh = await open(big, 'w')
  for (let m = 0; m < cfg.bigMiB; m++) {
    block.writeUInt32LE(m, 0) // no two blocks alike
    await fh.write(block, 0, MiB, m * MiB)
  }
  await fh.close()
  const writeMBps = (cfg.bigMiB * MiB) / 1e6 / secs(t0)

  // Sequential read through a fresh open.
  const buf = Buffer.alloc(MiB)
  phase('read')
  t0 = process.hrtime.bigint()
  fh = await open(big, 'r')
  let total = 0
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, MiB, total)
    if (bytesRead === 0) break
    total += bytesRead
  }
  await fh.close()
  const readMBps = total / 1e6 / secs(t0)
  if (total !== cfg.bigMiB * MiB) throw new Error(`read ${total} bytes of ${cfg.bigMiB * MiB}`)

  // Random 4 KiB reads, one at a time, at 4 KiB-aligned offsets.
  const pages = (cfg.bigMiB * MiB) / 4096
  const rr = prng(7)
  const page = Buffer.alloc(4096)
  phase('random')
  fh = await open(big, 'r')
  t0 = process.hrtime.bigint()
  for (let i = 0; i < cfg.randomReads; i++) {
    const { bytesRead } = await fh.read(page, 0, 4096, Math.floor(rr() * pages) * 4096)
    if (bytesRead !== 4096) throw new Error(`short random read: ${bytesRead}`)
  }
  const randomReadPerSec = cfg.randomReads / secs(t0)
  await fh.close()
  phase('end')

  process.stdout.write(
    `${JSON.stringify({ createPerSec, statPerSec, writeMBps, readMBps, randomReadPerSec })}\n`,
  )
}

await main()
