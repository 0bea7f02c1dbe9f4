/**
 * The Blocktree mount beside the FUSE ceiling and the local disk, in one run:
 *  - ceiling: a minimal fuse-native filesystem in this process that keeps
 *    only names and sizes (writes are dropped, reads return whatever is in
 *    the kernel's buffer), mounted with the same options as ours;
 *  - local disk: a plain directory under the same tmp dir;
 *  - ours: a disk volume in a tmp data dir served by fuse/ mountVolume, with
 *    the daemon's cache of decrypted chunks (node/mounts.ts).
 * The workload (bench/fuse-load.ts) runs in a child process against each
 * target: 4 KiB files created (create + write + close), stat of each, a
 * sequential write (1 MiB writes, then close: for us the close commits
 * everything into the store) and a sequential read through a fresh open,
 * random 4 KiB reads. Nothing drops the OS page cache: the local disk reads
 * from it, FUSE targets get their data from the serving process at each open
 * (the mount keeps no page cache across opens).
 *
 * Usage: node dist/bench/fuse-mount.js [--quick] [--files N] [--big-mib N] [--random-reads N]
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fuse, { type FuseOps, type FuseStat } from 'fuse-native'
import { mountOptions, mountVolume } from '../fuse/index.js'
import { CHUNK_CACHE_BYTES } from '../node/mounts.js'
import { openDiskVolume } from '../node/open-tree.js'
import { systemRuntime } from '../sync/runtime.js'
import { benchArgs } from './args.js'

const opts = benchArgs('fuse-mount', 'The mount vs the no-op FUSE ceiling vs the local disk.', {
  files: { full: [10_000], quick: [200], help: 'small files to create and stat' },
  'big-mib': { full: [1024], quick: [16], help: 'size of the sequential file in MiB' },
  'random-reads': { full: [20_000], quick: [500], help: 'random 4 KiB reads' },
})

interface Row {
  createPerSec: number
  statPerSec: number
  writeMBps: number
  readMBps: number
  randomReadPerSec: number
  /** CPU seconds of this process (the FUSE server) per phase of the load. */
  cpu: Record<string, number>
  /** CPU seconds of its main (JavaScript) thread alone per phase (Linux; NaN elsewhere). */
  mainCpu: Record<string, number>
}

/** CPU seconds of the main thread alone (Linux: /proc, utime + stime in 10 ms ticks), NaN elsewhere. */
function mainThreadSecs(): number {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return Number.NaN
  }
}

const LOAD = fileURLToPath(new URL('./fuse-load.js', import.meta.url))

/**
 * Run the workload in a child process against `dir` (async: this process may
 * be serving it), sampling this process's CPU time at the child's phase markers.
 */
function load(dir: string): Promise<Row> {
  const cfg = {
    dir,
    files: opts.files[0]!,
    bigMiB: opts['big-mib'][0]!,
    randomReads: opts['random-reads'][0]!,
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const cpu: Record<string, number> = {}
    const mainCpu: Record<string, number> = {}
    let current: string | undefined
    let mark = process.cpuUsage()
    let mainMark = mainThreadSecs()
    let pending = ''
    child.stdout.on('data', (d: Buffer) => {
      pending += d
      let nl = pending.indexOf('\n')
      while (nl >= 0) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        const m = /^phase (\w+)$/.exec(line)
        if (m) {
          const used = process.cpuUsage(mark)
          mark = process.cpuUsage()
          const main = mainThreadSecs()
          if (current) {
            cpu[current] = (used.user + used.system) / 1e6
            mainCpu[current] = main - mainMark
          }
          mainMark = main
          current = m[1]
        } else out += `${line}\n`
        nl = pending.indexOf('\n')
      }
    })
    child.stderr.on('data', (d: Buffer) => {
      err += d
    })
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code === 0) resolve({ ...(JSON.parse(out) as Omit<Row, 'cpu' | 'mainCpu'>), cpu, mainCpu })
      else reject(new Error(`load on ${dir} exited ${code}: ${err}`))
    })
  })
}

/** The same mount options as ours (big writes, no entry/attr caching). */
const MOUNT_OPTIONS = mountOptions('bt-ceiling')

class CeilingFuse extends Fuse {
  override _fuseOptions(): string {
    return `-o${MOUNT_OPTIONS.join(',')}`
  }
}

interface Node {
  dir: boolean
  mode: number
  size: number
  mtime: number
}

/** Names and sizes only: the least work a FUSE filesystem in Node can do per request. */
function ceilingOps(): FuseOps {
  const nodes = new Map<string, Node>([['/', { dir: true, mode: 0o40755, size: 0, mtime: Date.now() }]])
  const stat = (n: Node): FuseStat => ({
    mode: n.mode,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    size: n.size,
    nlink: n.dir ? 2 : 1,
    blocks: Math.ceil(n.size / 512),
    atime: n.mtime,
    mtime: n.mtime,
    ctime: n.mtime,
  })
  const ENOENT = Fuse.ENOENT
  return {
    getattr: (p, cb) => {
      const n = nodes.get(p)
      n ? cb(0, stat(n)) : cb(ENOENT)
    },
    fgetattr: (p, _fd, cb) => {
      const n = nodes.get(p)
      n ? cb(0, stat(n)) : cb(ENOENT)
    },
    readdir: (p, cb) => {
      const prefix = p === '/' ? '/' : `${p}/`
      const names: string[] = []
      for (const k of nodes.keys()) {
        if (k !== p && k.startsWith(prefix) && !k.slice(prefix.length).includes('/'))
          names.push(k.slice(prefix.length))
      }
      cb(0, names)
    },
    mkdir: (p, mode, cb) => {
      nodes.set(p, { dir: true, mode: 0o40000 | mode, size: 0, mtime: Date.now() })
      cb(0)
    },
    create: (p, mode, cb) => {
      nodes.set(p, { dir: false, mode: 0o100000 | (mode & 0o7777), size: 0, mtime: Date.now() })
      cb(0, 1)
    },
    open: (p, _flags, cb) => (nodes.has(p) ? cb(0, 1) : cb(ENOENT)),
    write: (p, _fd, _buf, len, pos, cb) => {
      const n = nodes.get(p)
      if (n) n.size = Math.max(n.size, pos + len)
      cb(len)
    },
    read: (p, _fd, _buf, len, pos, cb) => cb(Math.max(0, Math.min(len, (nodes.get(p)?.size ?? 0) - pos))),
    truncate: (p, size, cb) => {
      const n = nodes.get(p)
      if (n) n.size = size
      cb(n ? 0 : ENOENT)
    },
    ftruncate: (p, _fd, size, cb) => {
      const n = nodes.get(p)
      if (n) n.size = size
      cb(n ? 0 : ENOENT)
    },
    utimens: (_p, _a, _m, cb) => cb(0),
    chmod: (_p, _m, cb) => cb(0),
    flush: (_p, _fd, cb) => cb(0),
    fsync: (_p, _d, _fd, cb) => cb(0),
    release: (_p, _fd, cb) => cb(0),
    unlink: (p, cb) => cb(nodes.delete(p) ? 0 : ENOENT),
  }
}

async function mountCeiling(dir: string): Promise<() => Promise<void>> {
  const fuse = new CeilingFuse(dir, ceilingOps(), { timeout: false })
  await new Promise<void>((res, rej) => fuse.mount((e) => (e ? rej(e) : res())))
  return () => new Promise<void>((res, rej) => fuse.unmount((e) => (e ? rej(e) : res())))
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1))

async function main(): Promise<void> {
  if (!existsSync('/dev/fuse')) {
    console.log('fuse-mount: /dev/fuse is missing; nothing to measure')
    return
  }
  const root = mkdtempSync(join(tmpdir(), 'bt-bench-fuse-'))
  const results: Record<'ceiling' | 'disk' | 'ours', Row | undefined> = {
    ceiling: undefined,
    disk: undefined,
    ours: undefined,
  }
  try {
    const ceilingDir = join(root, 'ceiling')
    mkdirSync(ceilingDir)
    const unmountCeiling = await mountCeiling(ceilingDir)
    try {
      results.ceiling = await load(ceilingDir)
    } finally {
      await unmountCeiling()
    }

    const diskDir = join(root, 'disk')
    mkdirSync(diskDir)
    results.disk = await load(diskDir)

    const mnt = join(root, 'mnt')
    mkdirSync(mnt)
    const volume = await openDiskVolume({
      dir: join(root, 'data'),
      nodeId: 'bench',
      key: randomBytes(32),
      runtime: systemRuntime(),
    })
    // As the daemon mounts a tree (node/mounts.ts): with its cache of decrypted chunks.
    volume.store.cacheChunks?.(CHUNK_CACHE_BYTES)
    const mount = await mountVolume(volume, mnt, { name: 'bench' })
    try {
      results.ours = await load(mnt)
    } finally {
      await mount.unmount({ lazy: true })
      await volume.close()
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }

  const { ceiling, disk, ours } = results as Record<string, Row>
  const rows: [string, Exclude<keyof Row, 'cpu' | 'mainCpu'>][] = [
    [`create ${opts.files[0]} x 4 KiB files (files/s)`, 'createPerSec'],
    [`stat of them (ops/s)`, 'statPerSec'],
    [`sequential write ${opts['big-mib'][0]} MiB + close (MB/s)`, 'writeMBps'],
    [`sequential read, fresh open (MB/s)`, 'readMBps'],
    [`random 4 KiB reads (ops/s)`, 'randomReadPerSec'],
  ]
  console.log('| row | Blocktree mount | no-op FUSE ceiling | local disk | mount / ceiling |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  for (const [label, k] of rows) {
    const pct = (100 * ours![k]) / ceiling![k]
    console.log(
      `| ${label} | ${fmt(ours![k])} | ${fmt(ceiling![k])} | ${fmt(disk![k])} | ${pct.toFixed(0)}% |`,
    )
  }
  // CPU time of the serving process depends far less on other load than wall time does.
  const perOp: [string, string, number][] = [
    ['create (ms per file)', 'create', opts.files[0]!],
    ['stat (ms per file)', 'stat', opts.files[0]!],
    ['sequential write (ms per MiB)', 'write', opts['big-mib'][0]!],
    ['sequential read (ms per MiB)', 'read', opts['big-mib'][0]!],
    ['random 4 KiB read (ms per read)', 'random', opts['random-reads'][0]!],
  ]
  console.log('')
  console.log('| FUSE server CPU | Blocktree mount | no-op FUSE ceiling |')
  console.log('| --- | ---: | ---: |')
  for (const [label, phase, n] of perOp) {
    const ms = (r: Row) => ((1000 * (r.cpu[phase] ?? Number.NaN)) / n).toFixed(3)
    console.log(`| ${label} | ${ms(ours!)} | ${ms(ceiling!)} |`)
  }
  // The mount chunks and seals on a worker thread and writes packs on libuv's: what limits a
  // sequential writer is the main thread's share.
  const mainPerMiB = (r: Row) => ((1000 * (r.mainCpu.write ?? Number.NaN)) / opts['big-mib'][0]!).toFixed(3)
  console.log('')
  console.log(
    `FUSE server main thread, sequential write: ${mainPerMiB(ours!)} ms per MiB (ceiling ${mainPerMiB(ceiling!)})`,
  )
}

await main()
