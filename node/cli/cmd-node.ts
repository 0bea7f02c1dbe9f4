/** Commands about the node itself: status, up, down (init: cmd-key.ts). */
import { existsSync } from 'node:fs'
import type { NodeApi } from '../api-types.js'
import { ownerPidFromEnv } from '../daemon/owner-watch.js'
import { NodeError } from '../node-error.js'
import { UsageError } from './args.js'
import { mountArgs, mountFlags } from './cmd-mount.js'
import { syncLines, watchStatus } from './cmd-sync.js'
import { unlockFromEnv } from './connect.js'
import { CliError, type Ctx } from './context.js'
import { NODE_PASSPHRASE, SECRET_VARS, secretSource, tpmSpec } from './key-input.js'
import { replicationArgs, replicationFlags } from './up-flags.js'

export async function runStatus(ctx: Ctx): Promise<number> {
  if (ctx.flag('watch')) {
    if (ctx.json) throw new UsageError('--watch draws for people; use --json without it, repeatedly')
    const stop = new AbortController()
    const onInt = () => stop.abort()
    process.once('SIGINT', onInt)
    try {
      const tty = (ctx.io.stdout as { isTTY?: boolean }).isTTY === true
      return await watchStatus(ctx, statusLines, tty, stop.signal)
    } finally {
      process.off('SIGINT', onInt)
    }
  }
  const api = await ctx.api()
  if (ctx.json) {
    const [s, sync] = await Promise.all([api.status(), api.syncStatus()])
    await ctx.outJson({ ...s, sync })
    return 0
  }
  for (const l of await statusLines(api)) await ctx.out(l)
  return 0
}

async function statusLines(api: NodeApi): Promise<string[]> {
  const [s, sync] = await Promise.all([api.status(), api.syncStatus()])
  const lines: [string, string][] = [
    ['node id', s.nodeId],
    ['data dir', s.home],
    ['running', s.running ? `yes (pid ${s.pid}, socket ${s.socket})` : 'no'],
    ['key', s.keyProtection === 'none' ? 'none (stored unprotected)' : s.keyProtection],
    ['version', s.version],
    ['trees', s.trees.length ? s.trees.map((t) => t.name).join(', ') : '(none)'],
  ]
  for (const m of s.mounts ?? []) lines.push(['mount', `${m.tree} at ${m.dir} (${m.openFiles} open files)`])
  if (sync.running) lines.push(['listens', sync.addresses.join(' ') || '(no address)'])
  const out = lines.map(([k, v]) => `${`${k}:`.padEnd(10)}${v}`)
  const rows = syncLines(sync)
  if (rows.length) out.push('', ...rows)
  return out
}

export async function runUp(ctx: Ctx): Promise<number> {
  const replication = replicationFlags(ctx) // usage errors before anything else
  const exitWithPid = ownerPid(ctx)
  if (!existsSync(ctx.home))
    throw new NodeError('ENOTINIT', ctx.home, 'no node identity here (run bt init first)')
  if (ctx.flag('detach')) {
    // The child runs `bt up` in the foreground with the same global options (minus --detach).
    const args = ['up', '--home', ctx.home, ...replicationArgs(ctx)]
    if (ctx.quiet) args.push('--quiet')
    args.push(...mountArgs(ctx))
    const tpm = tpmSpec(ctx)
    if (tpm) args.push('--tpm', tpm)
    const { readKeyFile } = await import('../identity.js')
    // A passphrase goes to the child through a pipe: never on its command line, nor in its environment.
    let input: string | undefined
    if (readKeyFile(ctx.home).protection === 'passphrase') {
      input = `${await secretSource(ctx, NODE_PASSPHRASE)()}\n`
      args.push('--passphrase-stdin')
    }
    const env = { ...ctx.io.env }
    for (const v of SECRET_VARS) delete env[v]
    const { startDetached } = await import('../daemon/control.js')
    const info = await startDetached({ home: ctx.home, args, env, ...(input ? { input } : {}) })
    if (ctx.json) await ctx.outJson({ pid: info.pid, socket: info.socket })
    else await ctx.out(String(info.pid))
    return 0
  }
  const unlock = unlockFromEnv(ctx.io.env)
  if (ctx.flag('passphrase-stdin')) {
    const line = (await readAll(ctx.io.stdin)).replace(/\r?\n$/, '')
    unlock.passphrase = async () => line
  }
  const { runDaemon } = await import('../daemon/run.js')
  // Logs go to stderr with an ISO time (the daemon's default), --quiet or not: they are the node's record.
  await runDaemon({
    home: ctx.home,
    unlock,
    mounts: mountFlags(ctx),
    replication,
    ...(exitWithPid !== undefined ? { exitWithPid } : {}),
  })
  return 0
}

/** `BT_EXIT_WITH_PID`, checked before a detached child is started (it inherits the environment). */
function ownerPid(ctx: Ctx): number | undefined {
  try {
    return ownerPidFromEnv(ctx.io.env)
  } catch (e) {
    throw new CliError(undefined, (e as Error).message, 2)
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = []
  for await (const c of stream) parts.push(Buffer.from(c as Uint8Array))
  return Buffer.concat(parts).toString('utf8')
}

export async function runDown(ctx: Ctx): Promise<number> {
  const { stopDaemon } = await import('../daemon/control.js')
  const stopped = await stopDaemon({ home: ctx.home })
  if (ctx.json) await ctx.outJson({ stopped })
  else if (!stopped) ctx.note(`bt: down: no node is running for ${ctx.home}`)
  return 0
}
