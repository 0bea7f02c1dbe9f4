/** Mapping of lower layers' errors to `FsError`. */
import { StoreError } from '../store/types.js'
import { FsError, type FsErrorCode, isFsErrorCode } from './errors.js'

/**
 * The `FsError` for an error thrown by the store or the tree. A store error
 * about data (corrupt or missing chunk, unknown manifest) is EIO: the file
 * exists, its bytes cannot be produced. Errors carrying a POSIX `code` keep
 * it. Anything else is a bug and is returned unchanged so it surfaces.
 */
export function toFsError(e: unknown, path?: string): unknown {
  if (e instanceof FsError) return e
  if (e instanceof StoreError) {
    const code: FsErrorCode = e.code === 'EINVAL' ? 'EINVAL' : 'EIO'
    return new FsError(code, path, e.message)
  }
  const code = (e as { code?: unknown } | null)?.code
  // A full disk says so in one line, whichever file filled it (SQLite, a pack, staging).
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') return new FsError('ENOSPC', path)
  if (isFsErrorCode(code)) {
    return new FsError(code, path, (e as Error).message)
  }
  return e
}

/** Run fn, converting thrown errors with `toFsError`. */
export async function guard<T>(path: string | undefined, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    throw toFsError(e, path)
  }
}

/** Wrap an async iterable so its errors become `FsError`s too. */
export async function* guardStream(
  path: string,
  source: () => AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  try {
    yield* source()
  } catch (e) {
    throw toFsError(e, path)
  }
}
