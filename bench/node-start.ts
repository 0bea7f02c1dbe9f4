/**
 * Time for a node start per key protection mode: `none` (the floor, the
 * baseline of this run), `passphrase` (scrypt at the default cost, N = 2^17)
 * and `tpm` on swtpm. Two measures each: in process (openLocalNode + the
 * first status() + close) and `bt status` as a process (no daemon: the CLI
 * opens the data dir itself, as every command does without `bt up`).
 *
 * Usage: node dist/bench/node-start.js [--quick] [--rounds N] [--procs N]
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { KeyProtection } from '../node/api-types.js'
import { initNode } from '../node/identity.js'
import { openLocalNode } from '../node/local-node.js'
import { startSwtpm } from '../test/helpers/swtpm.js'
import type { UnprotectOptions } from '../tpm/types.js'
import { benchArgs } from './args.js'

process.env.BT_NETWORK ??= 'loopback'
const opts = benchArgs('node-start', 'Time for a node start per key protection mode.', {
  rounds: { full: [10], quick: [1], help: 'in-process starts timed per mode' },
  procs: { full: [5], quick: [1], help: '`bt status` processes timed per mode' },
})
const BT = fileURLToPath(new URL('../node/cli/main.js', import.meta.url))
const PASSPHRASE = 'bench passphrase'
const cleanups: (() => unknown)[] = []
const teardown = { after: (fn: () => unknown) => cleanups.push(fn) }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

interface Mode {
  name: KeyProtection
  label: string
  unlock: UnprotectOptions
  env: NodeJS.ProcessEnv
}

/** A data dir with one tree, its key protected as `m` says. */
async function prepare(m: Mode): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bt-bench-start-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const home = join(dir, 'home')
  await initNode({ home, protection: m.name, protect: m.unlock })
  const first = await openLocalNode({ home, unlock: m.unlock })
  await first.treeCreate('docs')
  await first.close()
  return home
}

async function startInProcess(m: Mode, home: string): Promise<number> {
  const t0 = performance.now()
  const n = await openLocalNode({ home, unlock: m.unlock })
  await n.status()
  await n.close()
  return performance.now() - t0
}

function statusProcess(m: Mode, home: string): number {
  const env: NodeJS.ProcessEnv = { ...process.env, BT_NETWORK: 'loopback', ...m.env }
  delete env.BT_HOME
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [BT, '--home', home, 'status'], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`bt status failed: ${r.stderr}`)
  return performance.now() - t0
}

async function main(): Promise<void> {
  console.log(
    `node-start: median of ${opts.rounds[0]} starts in process, ${opts.procs[0]} \`bt status\` processes${opts.quick ? ' (quick)' : ''}`,
  )
  const sw = await startSwtpm(teardown)
  const modes: Mode[] = [
    { name: 'none', label: 'none (floor)', unlock: {}, env: {} },
    {
      name: 'passphrase',
      label: 'passphrase (scrypt 2^17)',
      unlock: { passphrase: async () => PASSPHRASE },
      env: { BT_PASSPHRASE: PASSPHRASE },
    },
    { name: 'tpm', label: 'tpm (swtpm, TCP)', unlock: { tpm: sw.spec }, env: { BT_TPM: sw.spec } },
  ]
  const homes = await Promise.all(modes.map(prepare))
  // Modes take turns in every round, so load from other processes hits them alike.
  const inProc: number[][] = modes.map(() => [])
  const procs: number[][] = modes.map(() => [])
  for (let i = 0; i < Math.max(opts.rounds[0]!, opts.procs[0]!); i++)
    for (const [k, m] of modes.entries()) {
      if (i < opts.rounds[0]!) inProc[k]!.push(await startInProcess(m, homes[k]!))
      if (i < opts.procs[0]!) procs[k]!.push(statusProcess(m, homes[k]!))
    }
  const r = modes.map((_, k) => ({ inProcess: median(inProc[k]!), process: median(procs[k]!) }))
  const floor = r[0]!
  for (const [k, m] of modes.entries()) {
    const plus = (x: number, f: number) => (k === 0 ? '' : ` (${x >= f ? '+' : ''}${(x - f).toFixed(1)})`)
    console.log(
      `  ${m.label.padEnd(26)} in process ${r[k]!.inProcess.toFixed(1).padStart(8)} ms${plus(r[k]!.inProcess, floor.inProcess).padEnd(10)}` +
        `  bt status ${r[k]!.process.toFixed(1).padStart(8)} ms${plus(r[k]!.process, floor.process)}`,
    )
  }
  console.log('  baseline: none = the same start without any unlocking work; (+N) = what the mode adds')
}

main()
  .catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const c of cleanups.reverse()) await c()
  })
