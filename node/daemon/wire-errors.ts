/**
 * Errors across the local API: `FsError` and `NodeError` are sent as their
 * fields and rebuilt as the same classes on the client; anything else is an
 * internal error of the daemon, sent without its stack (the daemon logs it).
 */
import { FsError, type FsErrorCode, isFsErrorCode } from '../errors.js'
import { NodeError, type NodeErrorCode } from '../node-error.js'

/** An error as it travels in an ERROR frame. */
export type WireError =
  | { kind: 'fs'; code: FsErrorCode; path?: string; detail?: string }
  | { kind: 'node'; code: NodeErrorCode; subject?: string; message: string }
  | { kind: 'internal'; message: string }

const NODE_CODES = new Set<string>([
  'ENOTREE',
  'ETREEEXISTS',
  'EBADNAME',
  'ENOTINIT',
  'EINITIALIZED',
  'ELOCKED',
  'ECORRUPT',
  'EDAEMON',
  'EKEY',
  'ENOTSUP',
  'ECLOSED',
  'EMOUNT',
  'EPERM',
  'ENOTMEMBER',
  'ETICKET',
  'EINVITE',
  'EUNREACHABLE',
  'ENOTRUNNING',
])

/** The wire form of an error thrown by the node. */
export function toWire(e: unknown): WireError {
  if (e instanceof FsError) {
    const w: WireError = { kind: 'fs', code: e.code }
    if (e.path !== undefined) w.path = e.path
    if (e.detail !== undefined) w.detail = e.detail
    return w
  }
  if (e instanceof NodeError) {
    const w: WireError = { kind: 'node', code: e.code, message: e.message }
    if (e.subject !== undefined) w.subject = e.subject
    return w
  }
  return { kind: 'internal', message: e instanceof Error ? e.message : String(e) }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** Rebuild an error received in an ERROR frame (anything unrecognised becomes EDAEMON). */
export function fromWire(w: unknown): Error {
  const o = (typeof w === 'object' && w !== null ? w : {}) as Record<string, unknown>
  const code = str(o.code)
  if (o.kind === 'fs' && isFsErrorCode(code))
    return new FsError(code as FsErrorCode, str(o.path), str(o.detail))
  if (o.kind === 'node' && code && NODE_CODES.has(code))
    return new NodeError(code as NodeErrorCode, str(o.subject), str(o.message) ?? code)
  const message = str(o.message) ?? 'unrecognised error'
  return new NodeError('EDAEMON', undefined, `internal error in the node: ${message} (details in its log)`)
}
