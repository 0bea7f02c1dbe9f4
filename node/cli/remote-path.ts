/**
 * Remote paths, rclone style: `TREE:/path`. `TREE:` and `TREE:/` are the
 * root; a relative `TREE:a/b` means `/a/b`. `.` and `..` are resolved
 * lexically and may not climb above the root. Bad input is a `UsageError`.
 */
import { UsageError } from './args.js'

/** Tree names: as the registry accepts them (node/trees.ts). */
const TREE_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/

export interface RemotePath {
  tree: string
  /** Canonical absolute path inside the tree ('/' for the root). */
  path: string
  /** The argument ended with '/' (the user means a directory). */
  trailingSlash: boolean
}

/** Whether `arg` is written as a remote path (`NAME:...` with a plausible tree name before the colon). */
export function looksRemote(arg: string): boolean {
  const c = arg.indexOf(':')
  return c > 0 && !arg.slice(0, c).includes('/')
}

/** Check a tree name; `UsageError` naming the rule otherwise. */
export function checkTreeArg(name: string, cmd: string): void {
  if (!TREE_RE.test(name))
    throw new UsageError(
      `bad tree name '${name}' (1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-')`,
      cmd,
    )
}

/**
 * Parse `TREE:/path`. With `bareTree`, a plain `TREE` (no colon) means its
 * root, for commands whose argument can only be remote (`ls`, `log`).
 */
export function parseRemote(arg: string, cmd: string, opts: { bareTree?: boolean } = {}): RemotePath {
  const c = arg.indexOf(':')
  if (c < 0) {
    if (opts.bareTree) {
      checkTreeArg(arg, cmd)
      return { tree: arg, path: '/', trailingSlash: false }
    }
    throw new UsageError(`'${arg}' is not a remote path (write TREE:/path)`, cmd)
  }
  const tree = arg.slice(0, c)
  checkTreeArg(tree, cmd)
  const raw = arg.slice(c + 1)
  return { tree, path: normalizeRemote(raw, arg, cmd), trailingSlash: raw.length > 1 && raw.endsWith('/') }
}

/** Resolve `.`/`..`/empty components of a path inside a tree; refuses NUL and escapes above the root. */
export function normalizeRemote(raw: string, shown: string, cmd: string): string {
  if (raw.includes('\0')) throw new UsageError(`path contains a NUL byte: ${JSON.stringify(shown)}`, cmd)
  const out: string[] = []
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (out.length === 0) throw new UsageError(`path escapes the root of the tree: ${shown}`, cmd)
      out.pop()
    } else out.push(part)
  }
  return '/' + out.join('/')
}

/** `TREE:/path` as shown in messages. */
export function showRemote(tree: string, path: string): string {
  return `${tree}:${path}`
}

/** Last component of a tree path ('' for the root). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** Join a tree directory and a child name. */
export function joinRemote(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

/**
 * Whether a name read from a tree may be used as one component of a local
 * path: not empty, not `.`/`..`, no `/`, no NUL. `get -r` refuses any other,
 * so nothing is ever written outside its target.
 */
export function safeLocalName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0')
}
