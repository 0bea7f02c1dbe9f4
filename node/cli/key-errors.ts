/**
 * Key failures as the user reads them: a TPM that refuses the key points at
 * `bt key recover` (and a key backup).
 */
import { NodeError } from '../node-error.js'

/** TPM failures the recovery code can get past (tpm/ protect.ts RECOVERABLE). */
const TPM_REFUSED = new Set(['EPCR', 'EWRONGTPM', 'ENOTPM'])

/** The tpm/ error code behind a NodeError EKEY (node/identity.ts keeps it as `cause`). */
export function keyFailure(e: unknown): string | undefined {
  if (!(e instanceof NodeError) || e.code !== 'EKEY') return undefined
  const c = (e as Error).cause as { code?: unknown } | undefined
  return typeof c?.code === 'string' ? c.code : undefined
}

/** The message of a key failure with what to do next (or undefined: not a key failure). */
export function keyHint(e: unknown): string | undefined {
  const code = keyFailure(e)
  if (code === undefined) return undefined
  const msg = (e as Error).message
  if (TPM_REFUSED.has(code))
    return `${msg}; to get the key back: bt key recover (with the recovery code), or bt key import of a backup`
  return undefined
}
