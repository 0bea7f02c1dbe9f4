/**
 * `bt put [-r] LOCAL TREE:/path` with scp semantics: a target that is an
 * existing directory receives the source under its own name. `-r` keeps
 * mode bits and file mtimes, stores symlinks as symlinks, skips special
 * files with a warning, and reports files that vanish or change during the
 * walk as warnings, carrying on; the exit status is 1 if anything was skipped
 * for an error. A file's write is acknowledged only when durable; a failed
 * one leaves the tree path at its previous content.
 */
import { basename, join, resolve } from 'node:path'
import type { NodeApi } from '../api-types.js'
import { FsError } from '../errors.js'
import { CliError, type Ctx } from './context.js'
import { ChangedWhileReading, type LocalFs, type LocalStats, nodeFs, readLocalFile } from './local-fs.js'
import { PROGRESS_MIN_BYTES, Progress } from './progress.js'
import { joinRemote, parseRemote, showRemote } from './remote-path.js'
import { localError, reasonFor } from './report.js'

/** What `put`/`get` did (printed with --json). */
export interface TransferSummary {
  files: number
  dirs: number
  symlinks: number
  bytes: number
  /** Entries not transferred: special files, and errors (vanished, changed, unreadable, refused names). */
  skipped: { path: string; reason: string; error: boolean }[]
}

export function emptySummary(): TransferSummary {
  return { files: 0, dirs: 0, symlinks: 0, bytes: 0, skipped: [] }
}

export async function runPut(ctx: Ctx): Promise<number> {
  const [src, dst] = ctx.positionals as [string, string]
  const r = parseRemote(dst, ctx.cmd)
  ctx.remote = r
  const recursive = ctx.flag('recursive')
  const api = await ctx.api()
  const summary = emptySummary()

  if (src === '-') {
    if (recursive) throw new CliError('-', 'cannot use -r with stdin')
    const dest = await targetPath(api, r.tree, r.path, r.trailingSlash, undefined)
    const attr = await api.writeFile(r.tree, dest, stdinChunks(ctx))
    summary.files = 1
    summary.bytes = attr.size
    return finish(ctx, summary)
  }

  let st: LocalStats
  try {
    st = await nodeFs.stat(src)
  } catch (e) {
    throw localError(src, e)
  }
  const name = basename(resolve(src))
  if (st.isDirectory()) {
    if (!recursive) throw new CliError(src, 'Is a directory (use -r)')
    const dest = await targetPath(api, r.tree, r.path, r.trailingSlash, name)
    await putTree(ctx, api, { local: src, tree: r.tree, dest, summary })
  } else if (st.isFile()) {
    const dest = await targetPath(api, r.tree, r.path, r.trailingSlash, name)
    const progress = new Progress({
      enabled: ctx.io.stderrTTY && !ctx.quiet && st.size >= PROGRESS_MIN_BYTES,
      write: (s) => ctx.io.stderr.write(s),
      now: ctx.io.now,
      width: ctx.io.columns,
      label: name,
      totalBytes: st.size,
    })
    try {
      const outcome = await putFile(api, nodeFs, src, r.tree, dest, (n) => progress.add(n))
      if (outcome.skip) throw new CliError(src, outcome.skip)
      summary.files = 1
      summary.bytes = outcome.bytes
    } finally {
      progress.done()
    }
  } else {
    throw new CliError(src, 'not a regular file or directory')
  }
  return finish(ctx, summary)
}

async function finish(ctx: Ctx, s: TransferSummary): Promise<number> {
  if (ctx.json) await ctx.outJson(s)
  return s.skipped.some((k) => k.error) ? 1 : 0
}

async function* stdinChunks(ctx: Ctx): AsyncGenerator<Uint8Array> {
  for await (const chunk of ctx.io.stdin) yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk
}

/**
 * Where a source named `name` lands for the target `path`: inside it when it
 * is an existing directory (scp), else at `path` itself. A trailing slash
 * demands an existing directory.
 */
async function targetPath(
  api: NodeApi,
  tree: string,
  path: string,
  trailingSlash: boolean,
  name: string | undefined,
): Promise<string> {
  let kind: string | undefined
  try {
    kind = (await api.stat(tree, path)).kind
  } catch (e) {
    if (!(e instanceof FsError && e.code === 'ENOENT')) throw e
  }
  if (kind === 'dir') {
    if (name === undefined) throw new FsError('EISDIR', path, 'name the file to write from stdin')
    return joinRemote(path, name)
  }
  if (trailingSlash) throw new FsError(kind === undefined ? 'ENOENT' : 'ENOTDIR', path)
  if (path === '/') throw new FsError('EISDIR', path)
  return path
}

/** Result of storing one local file: bytes written, or why it was skipped. */
export interface PutOutcome {
  bytes: number
  skip?: string
}

/**
 * Store one local regular file at `dest` with its mode bits and mtime.
 * Vanished / changed / unreadable → `{ skip }` (nothing written; the tree path
 * keeps its previous content). Tree-side failures throw.
 */
export async function putFile(
  api: NodeApi,
  fs: LocalFs,
  local: string,
  tree: string,
  dest: string,
  onBytes?: (n: number) => void,
): Promise<PutOutcome> {
  let file: Awaited<ReturnType<LocalFs['open']>>
  try {
    file = await fs.open(local)
  } catch (e) {
    return { bytes: 0, skip: skipReason(e) }
  }
  try {
    const st = await file.stat()
    if (!st.isFile()) return { bytes: 0, skip: 'no longer a regular file (changed during the walk)' }
    let changed = false
    const source = (async function* () {
      try {
        yield* readLocalFile(file, st, onBytes)
      } catch (e) {
        if (e instanceof ChangedWhileReading) changed = true
        throw e
      }
    })()
    try {
      const attr = await api.writeFile(tree, dest, source, { mode: st.mode & 0o7777, mtime: st.mtimeMs })
      return { bytes: attr.size }
    } catch (e) {
      if (changed) return { bytes: 0, skip: 'changed while being read; not stored' }
      const code = (e as NodeJS.ErrnoException).code
      if (!(e instanceof FsError) && !(e instanceof CliError) && reasonFor(code))
        return { bytes: 0, skip: skipReason(e) }
      throw e
    }
  } finally {
    await file.close().catch(() => {})
  }
}

function skipReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code
  if (code === 'ENOENT') return 'vanished during the walk'
  if (code === 'ELOOP') return 'replaced by a symlink during the walk'
  return reasonFor(code) ?? (e as Error).message
}

interface TreeItem {
  local: string
  dest: string
  kind: 'dir' | 'file' | 'symlink'
  size: number
  mode: number
  target?: string
}

export interface PutTreeOptions {
  local: string
  tree: string
  dest: string
  summary: TransferSummary
  /** Local fs calls (tests inject changes between walk and read). */
  fs?: LocalFs
}

/** `put -r`: walk `local`, then create its copy at `dest`. */
export async function putTree(ctx: Ctx, api: NodeApi, o: PutTreeOptions): Promise<void> {
  const fs = o.fs ?? nodeFs
  const s = o.summary
  const items: TreeItem[] = []
  const warn = (path: string, reason: string, error: boolean) => {
    progress.clear()
    s.skipped.push({ path, reason, error })
    ctx.warn(path, `skipped: ${reason}`)
  }
  let progress = new Progress({ enabled: false, write: () => {}, now: ctx.io.now, width: 80, label: '' })

  // Walk first: totals for the progress bar, and one consistent order (parents before children).
  const walk = async (local: string, dest: string, st: LocalStats): Promise<void> => {
    const mode = st.mode & 0o7777
    if (st.isSymbolicLink()) {
      try {
        items.push({ local, dest, kind: 'symlink', size: 0, mode, target: await fs.readlink(local) })
      } catch (e) {
        warn(local, skipReason(e), true)
      }
      return
    }
    if (st.isFile()) {
      items.push({ local, dest, kind: 'file', size: st.size, mode })
      return
    }
    if (!st.isDirectory()) {
      warn(local, 'not a regular file, directory or symlink', false)
      return
    }
    let names: string[]
    try {
      names = await fs.readdir(local)
    } catch (e) {
      warn(local, skipReason(e), true)
      return
    }
    items.push({ local, dest, kind: 'dir', size: 0, mode })
    names.sort()
    for (const name of names) {
      const child = join(local, name)
      let cst: LocalStats
      try {
        cst = await fs.lstat(child)
      } catch (e) {
        warn(child, skipReason(e), true)
        continue
      }
      await walk(child, joinRemote(dest, name), cst)
    }
  }
  let top: LocalStats
  try {
    top = await fs.stat(o.local)
  } catch (e) {
    throw localError(o.local, e)
  }
  await walk(o.local, o.dest, top)

  const files = items.filter((i) => i.kind === 'file')
  progress = new Progress({
    enabled: ctx.io.stderrTTY && !ctx.quiet,
    write: (x) => ctx.io.stderr.write(x),
    now: ctx.io.now,
    width: ctx.io.columns,
    label: basename(resolve(o.local)),
    totalBytes: files.reduce((n, f) => n + f.size, 0),
    totalFiles: files.length,
  })
  // Files go PUT_WINDOW at a time, so reading the next local files overlaps the node's durable
  // commit of the previous ones. Directories and symlinks are made in walk order, each before
  // anything below it is sent.
  const inflight = new Set<Promise<void>>()
  let failure: { error: unknown } | undefined
  const send = (it: TreeItem) => {
    progress.setLabel(it.local)
    const p: Promise<void> = putFile(api, fs, it.local, o.tree, it.dest, (n) => progress.add(n))
      .then(
        (r) => {
          if (r.skip) warn(it.local, r.skip, true)
          else {
            s.files++
            s.bytes += r.bytes
          }
          progress.fileDone()
        },
        (error: unknown) => {
          failure ??= { error }
        },
      )
      .finally(() => inflight.delete(p))
    inflight.add(p)
  }
  try {
    for (const it of items) {
      if (failure) break
      if (it.kind === 'dir') {
        await ensureDir(api, o.tree, it.dest, it.mode)
        s.dirs++
      } else if (it.kind === 'symlink') {
        await replaceSymlink(api, o.tree, it.dest, it.target!)
        s.symlinks++
      } else {
        while (inflight.size >= PUT_WINDOW) await Promise.race(inflight)
        if (!failure) send(it)
      }
    }
  } finally {
    await Promise.allSettled(inflight)
    progress.done()
  }
  if (failure) throw failure.error
}

/** Files of a `put -r` in flight at once. */
const PUT_WINDOW = 4

/** mkdir that accepts an existing directory (put -r merges into it). */
async function ensureDir(api: NodeApi, tree: string, path: string, mode: number): Promise<void> {
  try {
    await api.mkdir(tree, path, { mode })
  } catch (e) {
    if (!(e instanceof FsError && e.code === 'EEXIST')) throw e
    const a = await api.stat(tree, path)
    if (a.kind !== 'dir')
      throw new FsError('ENOTDIR', path, `exists in ${showRemote(tree, path)} as a ${a.kind}`)
  }
}

/** Create a symlink, replacing an existing symlink or file of that name. */
async function replaceSymlink(api: NodeApi, tree: string, path: string, target: string): Promise<void> {
  try {
    await api.symlink(tree, target, path)
  } catch (e) {
    if (!(e instanceof FsError && e.code === 'EEXIST')) throw e
    const a = await api.stat(tree, path)
    if (a.kind === 'dir') throw e
    await api.rm(tree, path)
    await api.symlink(tree, target, path)
  }
}
