/** Commands about the node itself: status, up, down (init: cmd-key.ts). */
import { existsSync } from 'node:fs'
import { NodeError } from '../node-error.js'
import { unlockFromEnv } from './connect.js'
import type { Ctx } from './context.js'
import { mountArgs, mountFlags } from './cmd-mount.js'
import { NODE_PASSPHRASE, SECRET_VARS, secretSource, tpmSpec } from './key-input.js'

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
  for (const m of s.mounts ?? []) lines.push(['mount', `${m.tree} at ${m.dir} (${m.openFiles} open files)`])
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
  })
  return 0
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
