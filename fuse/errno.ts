/** Errors thrown by a `Volume`, as the negative errno numbers FUSE answers with. */
import { constants } from 'node:os'
import { FsError } from '../node/errors.js'

const EIO = -constants.errno.EIO

/**
 * The negative errno for an error thrown by a Volume call. FsError maps one
 * to one; anything else is a fault of ours, reported as EIO and handed to
 * `log` (the kernel cannot carry a message).
 */
export function toErrno(
  e: unknown,
  op: string,
  path: string | undefined,
  log: (line: string) => void,
): number {
  if (e instanceof FsError) return e.errno
  const what = e instanceof Error ? (e.stack ?? e.message) : String(e)
  log(`fuse: ${op}${path ? ` ${path}` : ''} failed, answering EIO: ${what}`)
  return EIO
}

/** Negative errno by POSIX name (`errno('EPERM')`). */
export function errno(code: keyof typeof constants.errno): number {
  return -constants.errno[code]
}
