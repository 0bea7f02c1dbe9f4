/**
 * `protectSecret` / `unprotectSecret`: the one entry point the node uses to
 * keep its master secret at rest. Modes: `none` (the secret in the record,
 * base64: only when asked for explicitly), `passphrase` (scrypt + AES-256-GCM),
 * `tpm` (sealed by a TPM 2.0, optional PCR binding and recovery copy). A
 * record is only ever opened by its own mode; the recovery copy of a `tpm`
 * record is used only when the caller supplies the recovery code.
 */
import {
  normalizeRecoveryCode,
  unwrapWithPassphrase,
  type WrappedSecret,
  wrapWithPassphrase,
} from './passphrase.js'
import { sealToTpm, unsealFromTpm } from './seal.js'
import {
  type ProtectedSecret,
  type Protection,
  type ProtectOptions,
  TpmError,
  type UnprotectOptions,
} from './types.js'

const PASSPHRASE_CONTEXT = 'passphrase'
const RECOVERY_CONTEXT = 'recovery'

async function askPassphrase(o: UnprotectOptions): Promise<string> {
  if (!o.passphrase)
    throw new TpmError('EPASSPHRASE', 'this key is protected by a passphrase, and none was given')
  return o.passphrase()
}

async function recoveryCopy(
  secret: Uint8Array,
  o: ProtectOptions | UnprotectOptions,
): Promise<WrappedSecret | undefined> {
  if (!o.recovery) return undefined
  const code = normalizeRecoveryCode(await o.recovery())
  return wrapWithPassphrase(secret, code, RECOVERY_CONTEXT, {
    ...(o.kdf ? { kdf: o.kdf } : {}),
    ...(o.random ? { random: o.random } : {}),
  })
}

export async function protectSecret(secret: Uint8Array, o: ProtectOptions): Promise<ProtectedSecret> {
  switch (o.protection) {
    case 'none':
      return { protection: 'none', v: 1, secret: Buffer.from(secret).toString('base64') }
    case 'passphrase': {
      const wrapped = await wrapWithPassphrase(secret, await askPassphrase(o), PASSPHRASE_CONTEXT, {
        ...(o.kdf ? { kdf: o.kdf } : {}),
        ...(o.random ? { random: o.random } : {}),
      })
      return { protection: 'passphrase', v: 1, ...wrapped }
    }
    case 'tpm': {
      if (o.pcrs?.length && !o.recovery)
        throw new TpmError(
          'EPCR',
          'a PCR-bound seal needs a recovery code: a firmware update changes the PCRs and would lock the key out',
        )
      return sealToTpm(secret, { ...tpmUse(o), pcrs: o.pcrs ?? [], recovery: await recoveryCopy(secret, o) })
    }
    default:
      throw new TpmError('EBADRECORD', `unknown key protection '${String(o.protection)}'`)
  }
}

function tpmUse(o: UnprotectOptions): {
  tpm?: string
  random?: (n: number) => Uint8Array
  timeoutMs?: number
} {
  return {
    ...(o.tpm ? { tpm: o.tpm } : {}),
    ...(o.random ? { random: o.random } : {}),
    ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
  }
}

/** TPM failures the recovery code may step in for (never protocol errors or a damaged record). */
const RECOVERABLE = new Set(['EPCR', 'EWRONGTPM', 'ENOTPM'])

export async function unprotectSecret(
  record: ProtectedSecret,
  o: UnprotectOptions = {},
): Promise<Uint8Array> {
  if (record === null || typeof record !== 'object')
    throw new TpmError('EBADRECORD', 'key record is not an object')
  switch (record.protection) {
    case 'none': {
      if (record.v !== 1 || typeof record.secret !== 'string')
        throw new TpmError('EBADRECORD', 'unprotected key record is malformed')
      return new Uint8Array(Buffer.from(record.secret, 'base64'))
    }
    case 'passphrase': {
      if (record.v !== 1)
        throw new TpmError('EBADRECORD', `passphrase key record version ${record.v} is not supported`)
      return unwrapWithPassphrase(record, await askPassphrase(o), PASSPHRASE_CONTEXT)
    }
    case 'tpm': {
      try {
        return await unsealFromTpm(record, tpmUse(o))
      } catch (e) {
        if (!(e instanceof TpmError && RECOVERABLE.has(e.code) && o.recovery && record.recovery)) throw e
        const code = normalizeRecoveryCode(await o.recovery())
        return unwrapWithPassphrase(record.recovery, code, RECOVERY_CONTEXT)
      }
    }
    default:
      throw new TpmError('EBADRECORD', `unknown key protection '${String(record.protection)}'`)
  }
}

/**
 * Unlock `record` (with `recovery` if the TPM refuses) and protect the same
 * secret again: after a PCR change (re-seal to the current PCR values), on a
 * new TPM, or to change mode (`protection`) or PCRs (`pcrs`). A `tpm` record's
 * recovery copy is carried over unless `newRecovery` gives a new code.
 */
export async function resealSecret(
  record: ProtectedSecret,
  o: UnprotectOptions & { protection?: Protection; newRecovery?: () => Promise<string> },
): Promise<ProtectedSecret> {
  const secret = await unprotectSecret(record, o)
  const protection = o.protection ?? record.protection
  if (protection !== 'tpm') return protectSecret(secret, { ...o, protection })
  const pcrs =
    o.pcrs ?? (record.protection === 'tpm' && Array.isArray(record.pcrs) ? (record.pcrs as number[]) : [])
  const recovery = o.newRecovery
    ? await recoveryCopy(secret, { ...o, recovery: o.newRecovery })
    : record.protection === 'tpm'
      ? (record.recovery as WrappedSecret | undefined)
      : undefined
  if (pcrs.length && !recovery) throw new TpmError('EPCR', 'a PCR-bound seal needs a recovery code')
  return sealToTpm(secret, { ...tpmUse(o), pcrs, recovery })
}
