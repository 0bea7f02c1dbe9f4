/**
 * Names and ids of the path tree: inode ids (shard encoded in the id), actor
 * ids (node id + per-open random suffix), name validation and the names of
 * conflict copies.
 */
import { TreeError } from './errors.js'
import { ROOT_ID } from './types.js'

/** Longest name, in UTF-8 bytes. */
export const NAME_MAX = 255
/** Longest symlink target, in UTF-8 bytes. */
export const PATH_MAX = 4096

/** Throw a TreeError unless `name` is a valid directory entry name. */
export function validateName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new TreeError('EINVAL', 'empty name')
  if (name === '.' || name === '..') throw new TreeError('EINVAL', `reserved name '${name}'`)
  if (name.includes('/') || name.includes('\0')) throw new TreeError('EINVAL', `invalid character in name`)
  // Automerge stores UTF-8: a lone UTF-16 surrogate would be saved as U+FFFD, another name.
  if (/\p{Cs}/u.test(name)) throw new TreeError('EINVAL', 'name is not valid Unicode')
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX)
    throw new TreeError('ENAMETOOLONG', `name longer than ${NAME_MAX} bytes`)
}

/** Whether `name` is valid (for values read from remote documents). */
export function isValidName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('/') &&
    !name.includes('\0') &&
    Buffer.byteLength(name, 'utf8') <= NAME_MAX
  )
}

const INO_RE = /^(\d{1,6})\.([0-9a-f]{32})$/

/** Shard of an inode id; undefined when the id is malformed. Root lives in shard 0. */
export function shardOf(ino: string): number | undefined {
  if (ino === ROOT_ID) return 0
  const m = INO_RE.exec(ino)
  return m ? Number(m[1]) : undefined
}

export function makeInodeId(shard: number, random: Uint8Array): string {
  return `${shard}.${Buffer.from(random.buffer, random.byteOffset, 16).toString('hex')}`
}

/** Actor id: hex of the UTF-8 node id, then 8 random bytes, so (actor, seq) is never reused after a crash. */
export function makeActor(nodeId: string, random: Uint8Array): string {
  return (
    Buffer.from(nodeId, 'utf8').toString('hex') +
    Buffer.from(random.buffer, random.byteOffset, 8).toString('hex')
  )
}

/** Node id of an actor made by `makeActor` ('' when it cannot be decoded). */
export function nodeOfActor(actor: string): string {
  if (actor.length <= 16 || actor.length % 2 !== 0) return ''
  return Buffer.from(actor.slice(0, -16), 'hex').toString('utf8')
}

/** Compare Automerge op ids `counter@actor` (a total order shared by every replica). */
export function compareOpIds(a: string, b: string): number {
  const ia = a.indexOf('@')
  const ib = b.indexOf('@')
  const ca = Number(a.slice(0, ia))
  const cb = Number(b.slice(0, ib))
  if (ca !== cb) return ca < cb ? -1 : 1
  const aa = a.slice(ia + 1)
  const ab = b.slice(ib + 1)
  return aa < ab ? -1 : aa > ab ? 1 : 0
}

/** `YYYYMMDD-HHMMSS` in UTC. */
export function stamp(ms: number): string {
  const d = new Date(Number.isFinite(ms) ? ms : 0)
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
}

/**
 * Name of a conflict copy: `stem.conflict-<node8>-<YYYYMMDD-HHMMSS>[-<extra>].ext`
 * (the extension kept for files so the copy opens like the original), cut to
 * NAME_MAX bytes by shortening the stem.
 */
export function conflictName(
  name: string,
  node: string,
  time: number,
  isFile: boolean,
  extra?: string,
): string {
  const dot = isFile ? name.lastIndexOf('.') : -1
  const hasExt = dot > 0 && dot < name.length - 1
  let stem = hasExt ? name.slice(0, dot) : name
  const ext = hasExt ? name.slice(dot) : ''
  const node8 = node.slice(0, 8).replace(/[/\0]/g, '_') || 'unknown'
  const suffix = `.conflict-${node8}-${stamp(time)}${extra ? `-${extra}` : ''}${ext}`
  while (Buffer.byteLength(stem + suffix, 'utf8') > NAME_MAX && stem.length > 1) stem = stem.slice(0, -1)
  const out = stem + suffix
  return Buffer.byteLength(out, 'utf8') > NAME_MAX
    ? `x.conflict-${node8}-${stamp(time)}${extra ? `-${extra}` : ''}`
    : out
}
