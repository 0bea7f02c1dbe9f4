/** POSIX error codes spoken by the filesystem layer (map one-to-one to FUSE errno). */
import { constants } from 'node:os'

export type FsErrorCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EACCES'
  | 'EPERM'
  | 'EROFS'
  | 'EIO'
  | 'EINVAL'
  | 'EBADF'
  | 'ENAMETOOLONG'
  | 'ELOOP'
  | 'EXDEV'
  | 'ENOSPC'
  | 'ENOTSUP'
  | 'EBUSY'
  | 'EFBIG'

/** strerror text of every code. */
export const FS_ERROR_MESSAGES: Readonly<Record<FsErrorCode, string>> = {
  ENOENT: 'No such file or directory',
  EEXIST: 'File exists',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ENOTEMPTY: 'Directory not empty',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EROFS: 'Read-only file system',
  EIO: 'Input/output error',
  EINVAL: 'Invalid argument',
  EBADF: 'Bad file descriptor',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
  EXDEV: 'Invalid cross-device link',
  ENOSPC: 'No space left on device',
  ENOTSUP: 'Operation not supported',
  EBUSY: 'Device or resource busy',
  EFBIG: 'File too large',
}

/** A filesystem error with a POSIX code; `message` is `<strerror>` plus context. */
export class FsError extends Error {
  override name = 'FsError'
  constructor(
    readonly code: FsErrorCode,
    /** The path or object concerned, when known. */
    readonly path?: string,
    /** Extra context shown in parentheses after the reason. */
    readonly detail?: string,
  ) {
    super(`${path ? `${path}: ` : ''}${FS_ERROR_MESSAGES[code]}${detail ? ` (${detail})` : ''}`)
  }
  /** The strerror-style text for the code alone. */
  get reason(): string {
    return FS_ERROR_MESSAGES[this.code]
  }
  /** Negative errno, as FUSE expects. */
  get errno(): number {
    const n = (constants.errno as Record<string, number>)[this.code === 'ENOTSUP' ? 'EOPNOTSUPP' : this.code]
    return -(n ?? constants.errno.EIO)
  }
}

/** Whether a string (e.g. an errno code from node:fs or the wire) is one of our codes. */
export function isFsErrorCode(code: unknown): code is FsErrorCode {
  return typeof code === 'string' && Object.hasOwn(FS_ERROR_MESSAGES, code)
}

export function isFsError(e: unknown): e is FsError {
  return e instanceof FsError
}
