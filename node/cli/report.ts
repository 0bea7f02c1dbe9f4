/**
 * Errors to the one line a user sees on stderr, and the exit status:
 * - FsError → `bt: cat docs:/x: No such file or directory` (its tree path, reason, `(detail)`);
 * - NodeError → `bt: <cmd> <subject>: <message>`;
 * - a local file error (errno) → `bt: put ./x: Permission denied`;
 * - usage → `bt: <cmd>: <what> (see bt <cmd> --help)`, exit 2;
 * - anything else → `bt: <cmd>: internal error: <message>` (stack only with BT_DEBUG=1).
 */
import { FS_ERROR_MESSAGES, FsError, isFsErrorCode } from '../errors.js'
import { NodeError } from '../node-error.js'
import { UsageError } from './args.js'
import { CliError } from './context.js'
import { keyHint } from './key-errors.js'
import type { RemotePath } from './remote-path.js'

/** Local errno codes beyond the filesystem layer's own (node:fs reports these too). */
const MORE_REASONS: Record<string, string> = {
  EDQUOT: 'Disk quota exceeded',
  EMFILE: 'Too many open files',
  ENXIO: 'No such device or address',
  ETXTBSY: 'Text file busy',
}

/** strerror-like text for an errno code of a local file operation, if known. */
export function reasonFor(code: string | undefined): string | undefined {
  if (!code) return undefined
  return isFsErrorCode(code) ? FS_ERROR_MESSAGES[code] : MORE_REASONS[code]
}

/** A local filesystem error (from node:fs) about `path`, as a CliError. */
export function localError(path: string, e: unknown): CliError | unknown {
  if (e instanceof CliError || e instanceof FsError || e instanceof NodeError) return e
  const code = (e as NodeJS.ErrnoException | null)?.code
  const reason = reasonFor(code)
  return reason ? new CliError(path, reason) : e
}

export interface Report {
  line: string
  exit: number
}

/** The stderr line and exit status for an error thrown by command `cmd`. */
export function describeError(
  cmd: string,
  e: unknown,
  remote: RemotePath | undefined,
  env: NodeJS.ProcessEnv,
): Report {
  if (e instanceof UsageError) {
    const c = e.command ?? (cmd === 'help' ? undefined : cmd)
    return c
      ? { line: `bt: ${c}: ${e.message} (see bt ${c} --help)`, exit: 2 }
      : { line: `bt: ${e.message} (see bt --help)`, exit: 2 }
  }
  if (e instanceof FsError) {
    const where = e.path
      ? remote
        ? `${remote.tree}:${e.path}`
        : e.path
      : remote
        ? `${remote.tree}:${remote.path}`
        : undefined
    return { line: `bt: ${cmd}${where ? ` ${where}` : ''}: ${fsText(e)}`, exit: 1 }
  }
  if (e instanceof NodeError || e instanceof CliError) {
    return {
      line: `bt: ${cmd}${e.subject ? ` ${e.subject}` : ''}: ${keyHint(e) ?? e.message}`,
      exit: e instanceof CliError ? e.exit : 1,
    }
  }
  const code = (e as NodeJS.ErrnoException | null)?.code
  const reason = reasonFor(code)
  if (reason) {
    const p = (e as NodeJS.ErrnoException).path
    return { line: `bt: ${cmd}${p ? ` ${p}` : ''}: ${reason}`, exit: 1 }
  }
  const msg = e instanceof Error ? e.message : String(e)
  const stack = env.BT_DEBUG === '1' && e instanceof Error && e.stack ? `\n${e.stack}` : ''
  return { line: `bt: ${cmd}: internal error: ${msg.split('\n')[0]}${stack}`, exit: 1 }
}

/** `reason` plus ` (detail)`. */
export function fsText(e: FsError): string {
  return `${e.reason}${e.detail ? ` (${e.detail})` : ''}`
}
