/** Commands about trees and their history: tree create/list, log, conflicts, resolve. */
import type { Conflict, HistoryEntry } from '../../sync/types.js'
import { UsageError } from './args.js'
import type { Ctx } from './context.js'
import { isoTime, table } from './format.js'
import { checkTreeArg, parseRemote } from './remote-path.js'

export async function runTreeCreate(ctx: Ctx): Promise<number> {
  const name = ctx.positionals[0]!
  checkTreeArg(name, ctx.cmd)
  const info = await (await ctx.api()).treeCreate(name)
  if (ctx.json) await ctx.outJson(info)
  else await ctx.out(info.id)
  return 0
}

export async function runTreeList(ctx: Ctx): Promise<number> {
  const trees = await (await ctx.api()).treeList()
  if (ctx.json) {
    await ctx.outJson(trees)
    return 0
  }
  if (trees.length === 0) {
    ctx.note('no trees yet (bt tree create NAME)')
    return 0
  }
  const rows = [
    ['NAME', 'ID', 'ROLE', 'CREATED'],
    ...trees.map((t) => [t.name, t.id, t.role, isoTime(t.created)]),
  ]
  for (const l of table(rows)) await ctx.out(l)
  return 0
}

/** Shown length of version ids in human output (any unique prefix of >= 8 works with --at). */
const SHORT_VERSION = 16

export async function runLog(ctx: Ctx): Promise<number> {
  const arg = ctx.positionals[0]!
  const r = parseRemote(arg, ctx.cmd, { bareTree: true })
  ctx.remote = r
  const nText = ctx.value('max-count')
  let limit: number | undefined
  if (nText !== undefined) {
    if (!/^[1-9][0-9]{0,8}$/.test(nText)) throw new UsageError(`-n takes a positive number, not '${nText}'`)
    limit = Number(nText)
  }
  const wholeTree = !arg.includes(':') || r.path === '/'
  const entries: HistoryEntry[] = await (await ctx.api()).log(r.tree, wholeTree ? undefined : r.path, limit)
  if (ctx.json) {
    await ctx.outJson(entries)
    return 0
  }
  const rows = entries.map((h) => [
    h.version.slice(0, SHORT_VERSION),
    isoTime(h.time),
    h.node.slice(0, 8),
    h.op,
    `${r.tree}:${h.path}`,
  ])
  for (const l of table(rows)) await ctx.out(l)
  return 0
}

export async function runConflicts(ctx: Ctx): Promise<number> {
  const name = ctx.positionals[0]!
  checkTreeArg(name, ctx.cmd)
  ctx.remote = { tree: name, path: '/', trailingSlash: false }
  const list: Conflict[] = await (await ctx.api()).conflicts(name)
  if (ctx.json) {
    await ctx.outJson(list)
    return 0
  }
  if (list.length === 0) {
    ctx.note(`no conflicts in ${name}`)
    return 0
  }
  for (const c of list) {
    await ctx.out(
      `${name}:${c.path}  (${c.kind} conflict, ${c.copies.length} other version${c.copies.length === 1 ? '' : 's'})`,
    )
    const rows = c.copies.map((k) => [`  ${name}:${k.path}`, k.version, k.node.slice(0, 8), isoTime(k.time)])
    for (const l of table(rows)) await ctx.out(l)
  }
  return 0
}

export async function runResolve(ctx: Ctx): Promise<number> {
  const r = parseRemote(ctx.positionals[0]!, ctx.cmd)
  ctx.remote = r
  const keep = ctx.value('keep')
  if (keep === undefined) throw new UsageError('missing --keep VERSION (see bt conflicts)')
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(keep))
    throw new UsageError(`--keep takes a version id from bt conflicts, not '${keep}'`)
  await (await ctx.api()).resolve(r.tree, r.path, keep)
  return 0
}
