/** `bt mount`, `bt unmount` and `bt up --mount TREE=DIR`: trees served through FUSE by the daemon. */
import { resolve } from 'node:path'
import { NodeError } from '../node-error.js'
import { type FlagSpec, UsageError } from './args.js'
import type { Command } from './commands.js'
import type { Ctx } from './context.js'

/** `bt up --mount TREE=DIR` (repeatable). */
export const MOUNT_FLAG: FlagSpec = {
  name: 'mount',
  value: 'TREE=DIR',
  repeat: true,
  help: 'serve TREE at DIR through FUSE while the node runs (repeatable)',
}

/** The `--mount` values of `bt up`, with DIR made absolute (the daemon runs elsewhere). */
export function mountFlags(ctx: Ctx): { tree: string; dir: string }[] {
  return ctx.values('mount').map((v) => {
    const eq = v.indexOf('=')
    if (eq <= 0 || eq === v.length - 1) throw new UsageError(`--mount takes TREE=DIR, not '${v}'`, 'up')
    return { tree: v.slice(0, eq), dir: resolve(v.slice(eq + 1)) }
  })
}

/** The same mounts as arguments for a detached `bt up`. */
export function mountArgs(ctx: Ctx): string[] {
  return mountFlags(ctx).flatMap((m) => ['--mount', `${m.tree}=${m.dir}`])
}

async function runningNode(ctx: Ctx): Promise<boolean> {
  const { daemonInfo } = await import('../daemon/control.js')
  return (await daemonInfo(ctx.home)) !== undefined
}

async function runMount(ctx: Ctx): Promise<number> {
  const [tree, dirArg] = ctx.positionals as [string, string]
  const dir = resolve(dirArg)
  // Only a running node can serve a mount; never open the data dir here just to refuse.
  if (!(await runningNode(ctx)))
    throw new NodeError(
      'EMOUNT',
      dir,
      `no node is running for ${ctx.home}: start one with \`bt up --detach\``,
    )
  const m = await (await ctx.api()).mount(tree, dir)
  if (ctx.json) await ctx.outJson(m)
  else ctx.note(`mounted ${m.tree} at ${m.dir}`)
  return 0
}

async function runUnmount(ctx: Ctx): Promise<number> {
  const dir = resolve(ctx.positionals[0]!)
  const lazy = ctx.flag('lazy')
  if (await runningNode(ctx)) {
    await (await ctx.api()).unmount(dir, { lazy })
  } else {
    // No node: the only mount left to undo is one whose node died.
    const { cleanStaleMount, isFuse, mountAt } = await import('../../fuse/stale.js')
    if (!(await cleanStaleMount(dir))) {
      const m = await mountAt(dir)
      if (m && isFuse(m))
        throw new NodeError(
          'EMOUNT',
          dir,
          `mounted by another live process (${m.fstype} ${m.source}); no node runs for ${ctx.home}`,
        )
      throw new NodeError('EMOUNT', dir, 'not mounted')
    }
    ctx.note(`cleaned the stale mount at ${dir}`)
  }
  if (ctx.json) await ctx.outJson({ unmounted: dir })
  return 0
}

export const MOUNT_COMMANDS: Command[] = [
  {
    name: 'mount',
    group: 'node',
    summary: 'serve a tree at a local directory through FUSE (needs bt up)',
    usage: 'mount TREE DIR',
    args: ['TREE', 'DIR'],
    flags: [],
    description:
      'The running node serves TREE at DIR (an existing empty directory) until bt unmount or bt down.\n' +
      'Ordinary programs then work on it; changes show in bt log and through the other bt commands, and\n' +
      'theirs show in the mount. A dead mount left at DIR by a node that crashed is cleaned first.',
    examples: ['bt mount docs /mnt/docs'],
    run: runMount,
  },
  {
    name: 'unmount',
    group: 'node',
    summary: 'stop serving a mount (commits open files first)',
    usage: 'unmount [--lazy] DIR',
    args: ['DIR'],
    flags: [{ name: 'lazy', short: 'l', help: 'detach even while files are open (served until they close)' }],
    description:
      'Commits what open files wrote and unmounts DIR; a mount in use fails unless --lazy. With no node\n' +
      'running it cleans a stale mount that a crashed node left behind.',
    examples: ['bt unmount /mnt/docs', 'bt unmount --lazy /mnt/docs'],
    run: runUnmount,
  },
]
