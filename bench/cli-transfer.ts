/**
 * `bt put`/`bt get` as users run them (real `bt` processes, process start
 * included), with no daemon and through `bt up --detach`: a directory of
 * small files (-r) and one large file. Baseline in the same run: `cp` of the
 * same data on the same disk.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchArgs } from './args.js'

const opts = benchArgs('cli-transfer', 'bt put/get -r of small files and of one large file vs cp', {
  files: { full: [1000], quick: [20], help: 'small files in the directory' },
  kib: { full: [4], quick: [1], help: 'size of each small file, KiB' },
  mib: { full: [256], quick: [4], help: 'size of the large file, MiB' },
})
const FILES = opts.files[0]!
const KIB = opts.kib[0]!
const MIB = opts.mib[0]!
const BT = fileURLToPath(new URL('../node/cli/main.js', import.meta.url))

const root = mkdtempSync(join(tmpdir(), 'bt-bench-cli-'))
const env: NodeJS.ProcessEnv = { ...process.env, BT_NETWORK: 'loopback' }
delete env.BT_HOME

function bt(home: string, args: string[]): void {
  const r = spawnSync(process.execPath, [BT, '--home', home, '--quiet', ...args], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`bt ${args.join(' ')} failed: ${r.stderr}`)
}

function time(fn: () => void): number {
  const t = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t) / 1e9
}

// Pseudo-random, incompressible-looking content (no dedup between files).
function data(bytes: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(bytes)
  let x = seed * 2654435761 + 1
  for (let i = 0; i < bytes; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0
    b.writeUInt32LE(x, Math.min(i, bytes - 4))
  }
  return b
}

try {
  const src = join(root, 'src')
  mkdirSync(src)
  for (let i = 0; i < FILES; i++) writeFileSync(join(src, `f${i}.bin`), data(KIB * 1024, i + 1))
  const big = join(root, 'big.bin')
  writeFileSync(big, data(MIB * 1024 * 1024, 7))

  const cpDir = time(() => execFileSync('cp', ['-r', src, join(root, 'cp-src')]))
  const cpBig = time(() => execFileSync('cp', [big, join(root, 'cp-big.bin')]))
  rmSync(join(root, 'cp-src'), { recursive: true })
  rmSync(join(root, 'cp-big.bin'))

  console.log(`bt put/get through real bt processes; ${FILES} files x ${KIB} KiB, one ${MIB} MiB file`)
  console.log(`baseline cp -r ${FILES} files: ${cpDir.toFixed(3)} s (${(FILES / cpDir).toFixed(0)} files/s)`)
  console.log(`baseline cp ${MIB} MiB: ${cpBig.toFixed(3)} s (${(MIB / cpBig).toFixed(0)} MiB/s)`)
  for (const mode of ['no daemon', 'daemon'] as const) {
    const home = join(root, mode === 'daemon' ? 'home-d' : 'home')
    bt(home, ['init', '--key-protection', 'none'])
    bt(home, ['tree', 'create', 'docs'])
    if (mode === 'daemon') bt(home, ['up', '--detach'])
    try {
      const putDir = time(() => bt(home, ['put', '-r', src, 'docs:/']))
      const getDir = time(() => bt(home, ['get', '-r', 'docs:/src', join(root, `out-${mode}`)]))
      const putBig = time(() => bt(home, ['put', big, 'docs:/big.bin']))
      const getBig = time(() => bt(home, ['get', 'docs:/big.bin', join(root, `big-${mode}.bin`)]))
      console.log(
        `${mode}: put -r ${putDir.toFixed(3)} s (${(FILES / putDir).toFixed(0)} files/s), ` +
          `get -r ${getDir.toFixed(3)} s (${(FILES / getDir).toFixed(0)} files/s), ` +
          `put ${MIB} MiB ${putBig.toFixed(3)} s (${(MIB / putBig).toFixed(0)} MiB/s), ` +
          `get ${getBig.toFixed(3)} s (${(MIB / getBig).toFixed(0)} MiB/s)`,
      )
    } finally {
      if (mode === 'daemon') bt(home, ['down'])
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true })
}
