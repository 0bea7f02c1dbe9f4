/** Running the real `bt` as a child process against a temporary data dir. */
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { NodeApi } from '../../node/api-types.js'
import type { Io } from '../../node/cli/context.js'
import { runCli } from '../../node/cli/main.js'

export const BT = fileURLToPath(new URL('../../node/cli/main.js', import.meta.url))

export interface BtResult {
  status: number | null
  stdout: string
  stderr: string
}

export function btEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.BT_HOME
  delete env.BT_DEBUG
  return { ...env, BT_NETWORK: 'loopback', ...extra }
}

/** `bt --home HOME ...args`, synchronously. */
export function bt(
  home: string,
  args: string[],
  o: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): BtResult {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [BT, '--home', home, ...args], {
    encoding: 'utf8',
    env: btEnv(o.env),
    input: o.input,
    cwd: o.cwd,
    timeout: 60_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** `bt` without --home (usage tests). */
export function btRaw(args: string[], env: NodeJS.ProcessEnv = {}): BtResult {
  const r = spawnSync(process.execPath, [BT, ...args], { encoding: 'utf8', env: btEnv(env), timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Asynchronous variant (for runs that overlap with other work). */
export function btAsync(home: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<BtResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BT, '--home', home, ...args], { env: btEnv(env) })
    let stdout = ''
    let stderr = ''
    p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

/** Assert-friendly: throws with the output when the status is not `want`. */
export function ok(r: BtResult, want = 0): BtResult {
  if (r.status !== want)
    throw new Error(`bt exited ${r.status} (wanted ${want})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r
}

/** Run the CLI in this process with captured streams (for fakes and injected nodes). */
export async function runInProcess(
  argv: string[],
  open?: (home: string) => Promise<NodeApi>,
  o: { env?: NodeJS.ProcessEnv; tty?: boolean } = {},
): Promise<BtResult> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.setEncoding('utf8').on('data', (d) => (out += d))
  stderr.setEncoding('utf8').on('data', (d) => (err += d))
  const io: Io = {
    stdout,
    stderr,
    stdin: new PassThrough(),
    stderrTTY: o.tty ?? false,
    columns: 80,
    env: btEnv(o.env),
    now: () => Date.now(),
  }
  const status = await runCli(argv, io, open)
  await new Promise((r) => setImmediate(r))
  return { status, stdout: out, stderr: err }
}
