/**
 * `protectSecret` / `unprotectSecret`: the one entry point the node uses to
 * keep its master secret at rest. Modes: `none` (the secret in the record,
 * base64: only when asked for explicitly), `passphrase`, `tpm`.
 */
import { type ProtectedSecret, type ProtectOptions, TpmError, type UnprotectOptions } from './types.js'

export async function protectSecret(secret: Uint8Array, o: ProtectOptions): Promise<ProtectedSecret> {
  switch (o.protection) {
    case 'none':
      return { protection: 'none', v: 1, secret: Buffer.from(secret).toString('base64') }
    default:
      throw new TpmError('EBADRECORD', `key protection '${o.protection}' is not available yet`)
  }
}

export async function unprotectSecret(
  record: ProtectedSecret,
  _o: UnprotectOptions = {},
): Promise<Uint8Array> {
  if (record === null || typeof record !== 'object')
    throw new TpmError('EBADRECORD', 'key record is not an object')
  switch (record.protection) {
    case 'none': {
      if (record.v !== 1 || typeof record.secret !== 'string')
        throw new TpmError('EBADRECORD', 'unprotected key record is malformed')
      return new Uint8Array(Buffer.from(record.secret, 'base64'))
    }
    default:
      throw new TpmError('EBADRECORD', `unknown key protection '${String(record.protection)}'`)
  }
}
