/** Errors thrown by the path tree. Codes are POSIX names the Volume maps one-to-one to FsError. */
export type TreeErrorCode =
  | 'EINVAL'
  | 'ENAMETOOLONG'
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'ENOTEMPTY'
  | 'EIO'
  /** A received sync message carries a change whose author may not write (nothing of it applied). */
  | 'EPERM'

export class TreeError extends Error {
  override name = 'TreeError'
  constructor(
    readonly code: TreeErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`)
  }
}

export function isTreeError(e: unknown): e is TreeError {
  return e instanceof TreeError
}
