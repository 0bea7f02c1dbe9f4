/** Commands on paths inside a tree: ls, stat, cat, mkdir, mv, rm. */
import { FsError } from '../errors.js'
import type { Attr } from '../volume-types.js'
import { UsageError } from './args.js'
import { CliError, type Ctx } from './context.js'
import { humanSize, isoTime, modeString, octalMode } from './format.js'
import { baseName, joinRemote, parseRemote } from './remote-path.js'

const LS_PAGE = 1000

/** The JSON shape of one entry (`ls --json` items, `stat --json`). */
export interface EntryJson {
  name: string
  kind: Attr['kind']
  /** Full st_mode (type bits | permission bits). */
  mode: number
  size: number
  /** ms since epoch */
  mtime: number
  ctime: number
  ino: number
  id: string
  /** Symlinks only. */
  target?: string
}

function entryJson(name: string, a: Attr, target: string | undefined): EntryJson {
  const e: EntryJson = {
    name,
    kind: a.kind,
    mode: a.mode,
    size: a.size,
    mtime: a.mtime,
    ctime: a.ctime,
    ino: a.ino,
    id: a.id,
  }
  if (target !== undefined) e.target = target
  return e
}

function longLine(name: string, a: Attr, target: string | undefined): string {
  const size = a.kind === 'dir' ? '-' : humanSize(a.size)
  return `${modeString(a.mode)}  ${size.padStart(10)}  ${isoTime(a.mtime)}  ${name}${target !== undefined ? ` -> ${target}` : ''}`
}

export async function runLs(ctx: Ctx): Promise<number> {
  const r = parseRemote(ctx.positionals[0]!, ctx.cmd, { bareTree: true })
  ctx.remote = r
  const api = await ctx.api()
  const long = ctx.flag('long')
  const needTarget = long || ctx.json
  const show = async (name: string, a: Attr, first: boolean) => {
    const target =
      needTarget && a.kind === 'symlink' ? await api.readlink(r.tree, joinRemote(r.path, name)) : undefined
    if (ctx.json) await ctx.out(`${first ? '' : ','}${JSON.stringify(entryJson(name, a, target))}`)
    else await ctx.out(long ? longLine(name, a, target) : name)
  }
  const self = await api.stat(r.tree, r.path)
  if (self.kind !== 'dir') {
    const name = baseName(r.path)
    const target = needTarget && self.kind === 'symlink' ? await api.readlink(r.tree, r.path) : undefined
    if (ctx.json) await ctx.out(`[${JSON.stringify(entryJson(name, self, target))}]`)
    else await ctx.out(long ? longLine(name, self, target) : name)
    return 0
  }
  // Streamed page by page; the JSON array is opened first and closed at the end.
  if (ctx.json) await ctx.write('[\n')
  let cursor: string | undefined
  let first = true
  do {
    const page = await api.ls(r.tree, r.path, cursor, LS_PAGE)
    for (const e of page.entries) {
      await show(e.name, e.attr, first)
      first = false
    }
    cursor = page.cursor
  } while (cursor !== undefined)
  if (ctx.json) await ctx.write(']\n')
  return 0
}

export async function runStat(ctx: Ctx): Promise<number> {
  const r = parseRemote(ctx.positionals[0]!, ctx.cmd, { bareTree: true })
  ctx.remote = r
  const api = await ctx.api()
  const a = await api.stat(r.tree, r.path)
  const target = a.kind === 'symlink' ? await api.readlink(r.tree, r.path) : undefined
  if (ctx.json) {
    await ctx.outJson({ tree: r.tree, path: r.path, ...entryJson(baseName(r.path), a, target) })
    return 0
  }
  const lines: [string, string][] = [
    ['path', `${r.tree}:${r.path}`],
    ['type', a.kind === 'dir' ? 'directory' : a.kind === 'symlink' ? 'symbolic link' : 'regular file'],
    ['size', a.kind === 'file' ? `${a.size} (${humanSize(a.size)})` : String(a.size)],
    ['mode', `${octalMode(a.mode)} (${modeString(a.mode)})`],
    ['modified', isoTime(a.mtime)],
    ['changed', isoTime(a.ctime)],
    ['inode', `${a.ino} (${a.id})`],
  ]
  if (target !== undefined) lines.splice(2, 0, ['target', target])
  for (const [k, v] of lines) await ctx.out(`${`${k}:`.padEnd(10)}${v}`)
  return 0
}

export async function runCat(ctx: Ctx): Promise<number> {
  const r = parseRemote(ctx.positionals[0]!, ctx.cmd)
  ctx.remote = r
  const at = ctx.value('at')
  if (at !== undefined && !/^[0-9a-f]{8,64}$/.test(at))
    throw new UsageError(`--at takes a version id from bt log (8-64 hex digits), not '${at}'`)
  const api = await ctx.api()
  const a = await api.stat(r.tree, r.path)
  if (a.kind === 'dir' && at === undefined) throw new FsError('EISDIR', r.path)
  for await (const chunk of api.readFile(r.tree, r.path, at === undefined ? {} : { at }))
    await ctx.write(chunk)
  return 0
}

export async function runMkdir(ctx: Ctx): Promise<number> {
  const r = parseRemote(ctx.positionals[0]!, ctx.cmd)
  ctx.remote = r
  const api = await ctx.api()
  const a = await api.mkdir(r.tree, r.path, { parents: ctx.flag('parents') })
  if (ctx.json)
    await ctx.outJson({ tree: r.tree, path: r.path, ...entryJson(baseName(r.path), a, undefined) })
  return 0
}

export async function runMv(ctx: Ctx): Promise<number> {
  const from = parseRemote(ctx.positionals[0]!, ctx.cmd)
  const to = parseRemote(ctx.positionals[1]!, ctx.cmd)
  ctx.remote = from
  if (from.tree !== to.tree)
    throw new CliError(
      `${from.tree}:${from.path}`,
      `Invalid cross-device link (cannot move between trees; use get and put)`,
    )
  if (from.path === '/') throw new CliError(`${from.tree}:/`, 'cannot move the root of a tree')
  const api = await ctx.api()
  // Like mv(1): a target that is an existing directory receives the source under its name.
  let dest = to.path
  const existing = await api.stat(to.tree, to.path).catch((e) => {
    if (e instanceof FsError && e.code === 'ENOENT') return undefined
    throw e
  })
  if (existing?.kind === 'dir' && to.path !== from.path) dest = joinRemote(to.path, baseName(from.path))
  else if (to.trailingSlash && !existing) throw new FsError('ENOENT', to.path)
  await api.mv(from.tree, from.path, dest)
  return 0
}

export async function runRm(ctx: Ctx): Promise<number> {
  const r = parseRemote(ctx.positionals[0]!, ctx.cmd)
  ctx.remote = r
  if (r.path === '/') throw new CliError(`${r.tree}:/`, 'refusing to remove the root of a tree')
  const api = await ctx.api()
  await api.rm(r.tree, r.path, { recursive: ctx.flag('recursive') })
  return 0
}
