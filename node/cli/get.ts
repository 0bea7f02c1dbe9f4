/**
 * `bt get [-r] TREE:/path LOCAL` (scp semantics; `-` = stdout for one file).
 * Files are written to a temporary file in the target directory and renamed
 * at the end, so a reader never sees half a file. With `-r`, every name read
 * from the tree is checked before it becomes part of a local path (no `/`,
 * NUL, `.` or `..`), and an existing local symlink is never followed, so
 * nothing is written outside the target.
 */
import { randomBytes } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { NodeApi } from '../api-types.js'
import { FsError } from '../errors.js'
import type { Attr } from '../volume-types.js'
import { CliError, type Ctx } from './context.js'
import { PROGRESS_MIN_BYTES, Progress } from './progress.js'
import { emptySummary, type TransferSummary } from './put.js'
import { baseName, joinRemote, parseRemote, safeLocalName } from './remote-path.js'
import { localError } from './report.js'

/** Temp files in flight, removed if the process is interrupted. */
export const pendingTemps = new Set<string>()

const PAGE = 1000
/** Files of get -r whose fsync and rename may be in flight at once. */
const FINISHING_MAX = 16

export async function runGet(ctx: Ctx): Promise<number> {
  const [src, dst] = ctx.positionals as [string, string]
  const r = parseRemote(src, ctx.cmd)
  ctx.remote = r
  const api = await ctx.api()
  const attr = await api.stat(r.tree, r.path)
  const summary = emptySummary()

  if (dst === '-') {
    if (attr.kind === 'dir') throw new FsError('EISDIR', r.path, 'cannot write a directory to stdout')
    for await (const chunk of api.readFile(r.tree, r.path)) {
      await ctx.write(chunk)
      summary.bytes += chunk.length
    }
    summary.files = 1
    return finish(ctx, summary)
  }
  if (attr.kind === 'dir' && !ctx.flag('recursive')) throw new FsError('EISDIR', r.path, 'use -r')

  let target = dst
  const existing = await fsp.stat(dst).catch(() => undefined)
  if (existing?.isDirectory()) target = join(dst, baseName(r.path) || r.tree)
  else if (dst.endsWith('/'))
    throw new CliError(dst, existing ? 'Not a directory' : 'No such file or directory')

  if (attr.kind === 'dir') {
    await getTree(ctx, api, r.tree, r.path, target, summary)
  } else if (attr.kind === 'symlink') {
    await writeLocalSymlink(target, await api.readlink(r.tree, r.path))
    summary.symlinks = 1
  } else {
    const progress = new Progress({
      enabled: ctx.io.stderrTTY && !ctx.quiet && attr.size >= PROGRESS_MIN_BYTES,
      write: (s) => ctx.io.stderr.write(s),
      now: ctx.io.now,
      width: ctx.io.columns,
      label: basename(target),
      totalBytes: attr.size,
    })
    try {
      summary.bytes = await writeLocalFile(target, api.readFile(r.tree, r.path), attr, (n) => progress.add(n))
      summary.files = 1
    } finally {
      progress.done()
    }
  }
  return finish(ctx, summary)
}

async function finish(ctx: Ctx, s: TransferSummary): Promise<number> {
  if (ctx.json) await ctx.outJson(s)
  return s.skipped.some((k) => k.error) ? 1 : 0
}

/**
 * Write a stream to `path` through a temporary file beside it (fsync, then
 * rename), with the tree's mode bits and mtime. Resolves once the bytes are
 * written, with the byte count and `done`: the fsync and rename, which the
 * caller may let overlap with the next file (they touch only local disk).
 */
export async function startLocalFile(
  path: string,
  source: AsyncIterable<Uint8Array>,
  attr: Pick<Attr, 'mode' | 'mtime'>,
  onBytes?: (n: number) => void,
): Promise<{ bytes: number; done: Promise<void> }> {
  const tmp = join(dirname(path), `.${basename(path)}.bt-${randomBytes(4).toString('hex')}.tmp`)
  let fh: fsp.FileHandle
  try {
    fh = await fsp.open(tmp, 'wx', 0o600)
  } catch (e) {
    throw localError(dirname(path), e)
  }
  pendingTemps.add(tmp)
  const fail = async (e: unknown): Promise<never> => {
    await fsp.rm(tmp, { force: true })
    pendingTemps.delete(tmp)
    throw e instanceof FsError ? e : localError(path, e)
  }
  let bytes = 0
  try {
    for await (const chunk of source) {
      await fh.write(chunk)
      bytes += chunk.length
      onBytes?.(chunk.length)
    }
    await fh.chmod(attr.mode & 0o7777)
  } catch (e) {
    await fh.close().catch(() => {})
    return fail(e)
  }
  const done = (async () => {
    try {
      try {
        await fh.sync()
      } finally {
        await fh.close()
      }
      // Seconds as a number keep sub-millisecond precision (a Date would truncate to the ms).
      await fsp.utimes(tmp, attr.mtime / 1000, attr.mtime / 1000)
      await fsp.rename(tmp, path)
      pendingTemps.delete(tmp)
    } catch (e) {
      await fail(e)
    }
  })()
  return { bytes, done }
}

/** `startLocalFile` and wait for its rename. */
export async function writeLocalFile(
  path: string,
  source: AsyncIterable<Uint8Array>,
  attr: Pick<Attr, 'mode' | 'mtime'>,
  onBytes?: (n: number) => void,
): Promise<number> {
  const { bytes, done } = await startLocalFile(path, source, attr, onBytes)
  await done
  return bytes
}

/** Create (or atomically replace) a local symlink. */
async function writeLocalSymlink(path: string, target: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.bt-${randomBytes(4).toString('hex')}.tmp`)
  try {
    await fsp.symlink(target, tmp)
    await fsp.rename(tmp, path)
  } catch (e) {
    await fsp.rm(tmp, { force: true })
    throw localError(path, e)
  }
}

/** A directory to create, or an existing real directory (never through a symlink). */
async function ensureLocalDir(path: string): Promise<void> {
  try {
    // Owner-writable while filling it; the tree's mode is applied at the end.
    await fsp.mkdir(path, { mode: 0o700 })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw localError(path, e)
    const st = await fsp.lstat(path)
    if (!st.isDirectory()) throw new CliError(path, 'exists and is not a directory')
  }
}

interface Item {
  remote: string
  local: string
  attr: Attr
}

/** `get -r`: list the remote directory, then recreate it at `local`. */
async function getTree(
  ctx: Ctx,
  api: NodeApi,
  tree: string,
  root: string,
  local: string,
  s: TransferSummary,
): Promise<void> {
  const items: Item[] = []
  const warn = (path: string, reason: string) => {
    progress.clear()
    s.skipped.push({ path, reason, error: true })
    ctx.warn(path, reason)
  }
  let progress = new Progress({ enabled: false, write: () => {}, now: ctx.io.now, width: 80, label: '' })

  const walk = async (remote: string, localPath: string, attr: Attr): Promise<void> => {
    items.push({ remote, local: localPath, attr })
    if (attr.kind !== 'dir') return
    let cursor: string | undefined
    do {
      const page = await api.ls(tree, remote, cursor, PAGE)
      for (const e of page.entries) {
        const child = joinRemote(remote, e.name)
        if (!safeLocalName(e.name)) {
          warn(`${tree}:${child}`, `refused: the name ${JSON.stringify(e.name)} is not safe for a local path`)
          continue
        }
        await walk(child, join(localPath, e.name), e.attr)
      }
      cursor = page.cursor
    } while (cursor !== undefined)
  }
  await walk(root, local, await api.stat(tree, root))

  const files = items.filter((i) => i.attr.kind === 'file')
  progress = new Progress({
    enabled: ctx.io.stderrTTY && !ctx.quiet,
    write: (x) => ctx.io.stderr.write(x),
    now: ctx.io.now,
    width: ctx.io.columns,
    label: basename(local),
    totalBytes: files.reduce((n, f) => n + f.attr.size, 0),
    totalFiles: files.length,
  })
  const dirs: Item[] = []
  const finishing = new Set<Promise<void>>()
  try {
    for (const it of items) {
      if (it.attr.kind === 'dir') {
        await ensureLocalDir(it.local)
        dirs.push(it)
        s.dirs++
      } else if (it.attr.kind === 'symlink') {
        await writeLocalSymlink(it.local, await api.readlink(tree, it.remote))
        s.symlinks++
      } else {
        progress.setLabel(it.remote)
        try {
          const { bytes, done } = await startLocalFile(
            it.local,
            api.readFile(tree, it.remote),
            it.attr,
            (n) => progress.add(n),
          )
          s.bytes += bytes
          s.files++
          // fsync + rename overlap with reading the next files; a few in flight at most.
          const p = done.finally(() => finishing.delete(p))
          finishing.add(p)
          if (finishing.size >= FINISHING_MAX) await Promise.race(finishing)
        } catch (e) {
          // A file that vanished from the tree since the listing is reported; the rest continues.
          if (e instanceof FsError && e.code === 'ENOENT') warn(`${tree}:${it.remote}`, 'vanished during get')
          else throw e
        }
        progress.fileDone()
      }
    }
    await Promise.all(finishing)
    // Directory modes and mtimes last: writing their contents changed them.
    for (const d of dirs.reverse()) {
      await fsp.chmod(d.local, d.attr.mode & 0o7777)
      await fsp.utimes(d.local, d.attr.mtime / 1000, d.attr.mtime / 1000)
    }
  } finally {
    // On an early exit, let the renames in flight settle (and their temp files be removed).
    await Promise.allSettled([...finishing])
    progress.done()
  }
}
