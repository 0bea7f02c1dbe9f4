/**
 * The methods of the local API and the shape of their parameters. Requests
 * carry the `NodeApi` arguments positionally; the server checks every one
 * against this table before calling the node, so a malformed request is
 * refused at the boundary instead of reaching the Volume.
 */
import { ProtocolError } from './frames.js'

type Scalar = 'string' | 'number' | 'boolean'
/** An option object: the fields it may carry (all optional). */
type OptionShape = Record<string, Scalar>
type Param = Scalar | `${Scalar}?` | OptionShape

export interface MethodSpec {
  params: Param[]
  /** `upload`: DATA frames follow the request; `download`: the reply is DATA frames. */
  stream?: 'upload' | 'download'
}

const MKDIR: OptionShape = { parents: 'boolean', mode: 'number' }
const RM: OptionShape = { recursive: 'boolean' }
const WRITE: OptionShape = { mode: 'number', mtime: 'number', exclusive: 'boolean' }
const READ: OptionShape = { at: 'string', start: 'number', end: 'number' }
const UNMOUNT: OptionShape = { lazy: 'boolean' }
const INVITE: OptionShape = { role: 'string', expiresInMs: 'number', addresses: 'boolean' }
const JOIN: OptionShape = { name: 'string', timeoutMs: 'number' }

/** Every method a client may call (the NodeApi minus `close`, plus `shutdown`). */
export const METHODS = {
  status: { params: [] },
  treeCreate: { params: ['string'] },
  treeList: { params: [] },
  stat: { params: ['string', 'string'] },
  ls: { params: ['string', 'string', 'string?', 'number?'] },
  mkdir: { params: ['string', 'string', MKDIR] },
  mv: { params: ['string', 'string', 'string'] },
  rm: { params: ['string', 'string', RM] },
  symlink: { params: ['string', 'string', 'string'] },
  readlink: { params: ['string', 'string'] },
  writeFile: { params: ['string', 'string', WRITE], stream: 'upload' },
  readFile: { params: ['string', 'string', READ], stream: 'download' },
  log: { params: ['string', 'string?', 'number?'] },
  conflicts: { params: ['string'] },
  resolve: { params: ['string', 'string', 'string'] },
  df: { params: [] },
  verify: { params: [] },
  gc: { params: [] },
  invite: { params: ['string', INVITE] },
  join: { params: ['string', JOIN] },
  members: { params: ['string'] },
  removeMember: { params: ['string', 'string'] },
  peers: { params: [] },
  syncStatus: { params: [] },
  pin: { params: ['string', 'string'] },
  unpin: { params: ['string', 'string'] },
  pins: { params: ['string'] },
  mount: { params: ['string', 'string'] },
  unmount: { params: ['string', UNMOUNT] },
  /** Stop the daemon (graceful); answered before the stop begins. */
  shutdown: { params: [] },
} satisfies Record<string, MethodSpec>

/** Name of a local API method. */
export type Method = keyof typeof METHODS

/** Whether a request's `method` field names a method of the local API. */
export function isMethod(m: unknown): m is Method {
  return typeof m === 'string' && Object.hasOwn(METHODS, m)
}

function checkScalar(v: unknown, t: Scalar): boolean {
  if (t === 'number') return typeof v === 'number' && Number.isFinite(v)
  return typeof v === t
}

/**
 * Validate positional params (JSON has no `undefined`: null stands for an
 * absent optional value) and return them as the NodeApi expects them.
 * Throws ProtocolError naming the first bad parameter.
 */
export function checkParams(method: Method, params: unknown): unknown[] {
  const spec: MethodSpec = METHODS[method]
  const list = params === undefined ? [] : params
  if (!Array.isArray(list) || list.length > spec.params.length)
    throw new ProtocolError(`${method}: params must be an array of at most ${spec.params.length}`)
  return spec.params.map((p, i) => {
    const v = list[i] ?? undefined
    if (typeof p === 'object') {
      if (v === undefined) return {}
      if (typeof v !== 'object' || Array.isArray(v))
        throw new ProtocolError(`${method}: parameter ${i + 1} must be an object`)
      const out: Record<string, unknown> = {}
      for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
        const t = p[k]
        if (!t) throw new ProtocolError(`${method}: unknown option '${k}'`)
        if (val === null || val === undefined) continue
        if (!checkScalar(val, t)) throw new ProtocolError(`${method}: option '${k}' must be a ${t}`)
        out[k] = val
      }
      return out
    }
    const optional = p.endsWith('?')
    const t = (optional ? p.slice(0, -1) : p) as Scalar
    if (v === undefined) {
      if (optional) return undefined
      throw new ProtocolError(`${method}: parameter ${i + 1} is missing`)
    }
    if (!checkScalar(v, t)) throw new ProtocolError(`${method}: parameter ${i + 1} must be a ${t}`)
    return v
  })
}
