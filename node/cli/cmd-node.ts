/** Commands about the node itself: init, status, up, down. */
import { existsSync, mkdirSync } from 'node:fs'
import type { KeyProtection } from '../api-types.js'
import { NodeError } from '../node-error.js'
import { UsageError } from './args.js'
import { unlockFromEnv } from './connect.js'
import type { Ctx } from './context.js'

const PROTECTIONS: KeyProtection[] = ['none', 'passphrase', 'tpm']

export async function runInit(ctx: Ctx): Promise<number> {
  const chosen = ctx.value('key-protection')
  if (chosen !== undefined && !PROTECTIONS.includes(chosen as KeyProtection))
    throw new UsageError(`--key-protection must be none, passphrase or tpm, not '${chosen}'`)
  // Never store the key in the clear unless asked: the default is the TPM when there is one.
  const protection = (chosen ?? (existsSync('/dev/tpmrm0') ? 'tpm' : 'passphrase')) as KeyProtection
  mkdirSync(ctx.home, { recursive: true, mode: 0o700 })
  const { initNode } = await import('../identity.js')
  let r: Awaited<ReturnType<typeof initNode>>
  try {
    r = await initNode({ home: ctx.home, protection, protect: unlockFromEnv(ctx.io.env, true) })
  } catch (e) {
    if (e instanceof NodeError && e.code === 'EKEY' && /not available/.test(e.message))
      throw new NodeError(e.code, ctx.home, `${e.message} (for now: bt init --key-protection none)`)
    throw e
  }
  if (ctx.json) await ctx.outJson({ nodeId: r.nodeId, home: ctx.home, keyProtection: r.protection })
  else await ctx.out(r.nodeId)
  if (r.warning) ctx.warn(undefined, `warning: ${r.warning}`)
  return 0
}

export async function runStatus(ctx: Ctx): Promise<number> {
  const s = await (await ctx.api()).status()
  if (ctx.json) {
    await ctx.outJson(s)
    return 0
  }
  const lines: [string, string][] = [
    ['node id', s.nodeId],
    ['data dir', s.home],
    ['running', s.running ? `yes (pid ${s.pid}, socket ${s.socket})` : 'no'],
    ['key', s.keyProtection === 'none' ? 'none (stored unprotected)' : s.keyProtection],
    ['version', s.version],
    ['trees', s.trees.length ? s.trees.map((t) => t.name).join(', ') : '(none)'],
  ]
  for (const [k, v] of lines) await ctx.out(`${`${k}:`.padEnd(10)}${v}`)
  return 0
}

export async function runUp(ctx: Ctx): Promise<number> {
  if (!existsSync(ctx.home))
    throw new NodeError('ENOTINIT', ctx.home, 'no node identity here (run bt init first)')
  if (ctx.flag('detach')) {
    // The child runs `bt up` in the foreground with the same global options (minus --detach).
    const args = ['up', '--home', ctx.home]
    if (ctx.quiet) args.push('--quiet')
    const { startDetached } = await import('../daemon/control.js')
    const info = await startDetached({ home: ctx.home, args })
    if (ctx.json) await ctx.outJson({ pid: info.pid, socket: info.socket })
    else await ctx.out(String(info.pid))
    return 0
  }
  const { runDaemon } = await import('../daemon/run.js')
  // Logs go to stderr with an ISO time (the daemon's default), --quiet or not: they are the node's record.
  await runDaemon({
    home: ctx.home,
    unlock: unlockFromEnv(ctx.io.env),
    onReady: (info) => ctx.note(`bt: node serving ${ctx.home} (pid ${info.pid}, socket ${info.socket})`),
  })
  return 0
}

export async function runDown(ctx: Ctx): Promise<number> {
  const { stopDaemon } = await import('../daemon/control.js')
  const stopped = await stopDaemon({ home: ctx.home })
  if (ctx.json) await ctx.outJson({ stopped })
  else if (!stopped) ctx.note(`bt: down: no node is running for ${ctx.home}`)
  return 0
}
