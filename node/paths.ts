/** Path parsing and name validation for the Volume (absolute, '/'-separated paths). */
import { FsError } from './errors.js'

/** Longest name in bytes (UTF-8), as `namemax` in statfs reports. */
export const NAME_MAX = 255
/** Paths and symlink targets must be shorter than this many bytes (it counts the C string's NUL). */
export const PATH_MAX = 4096

const LONE_SURROGATE = /\p{Cs}/u

/** Throws EINVAL / ENAMETOOLONG unless `name` is a valid directory entry name. */
export function checkName(name: string, path: string): void {
  if (name === '' || name === '.' || name === '..')
    throw new FsError('EINVAL', path, `invalid name '${name}'`)
  if (name.includes('/') || name.includes('\0')) throw new FsError('EINVAL', path, 'name contains / or NUL')
  // A lone UTF-16 surrogate has no UTF-8 form: the journal would store U+FFFD instead, another name.
  if (LONE_SURROGATE.test(name)) throw new FsError('EINVAL', path, 'name is not valid Unicode')
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw new FsError('ENAMETOOLONG', path)
}

/**
 * Components of an absolute path. Empty components (`a//b`, trailing '/')
 * are ignored, as POSIX does; '.', '..', NUL and over-long names are errors
 * because FUSE never sends them and a tree path must have one spelling.
 */
export function splitPath(path: string): string[] {
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new FsError('EINVAL', String(path), 'path must be absolute')
  if (path.includes('\0')) throw new FsError('EINVAL', path, 'path contains NUL')
  if (Buffer.byteLength(path, 'utf8') >= PATH_MAX) throw new FsError('ENAMETOOLONG', path)
  const parts = path.split('/').filter((p) => p !== '')
  for (const p of parts) checkName(p, path)
  return parts
}

/** The canonical spelling of a path ('/a/b'). */
export function normalizePath(path: string): string {
  return '/' + splitPath(path).join('/')
}
