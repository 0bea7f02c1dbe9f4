/**
 * Contract of tpm/: protecting a node's master secret at rest. tpm/ imports
 * nothing of ours; the node (node/identity.ts) stores the JSON record that
 * `protectSecret` returns in its key file and calls `unprotectSecret` on start.
 */

/** How a secret is protected at rest. */
export type Protection = 'none' | 'passphrase' | 'tpm'

/**
 * A protected secret, JSON-serialisable (binary fields base64). `protection`
 * says which mode made it; the rest is that mode's own data. A record is
 * never silently converted to a weaker mode.
 */
export interface ProtectedSecret {
  protection: Protection
  /** Format version of this mode's record. */
  v: number
  [field: string]: unknown
}

export interface ProtectOptions {
  protection: Protection
  /** passphrase mode: where the passphrase comes from (prompt, `BT_PASSPHRASE`). */
  passphrase?: () => Promise<string>
  /** tpm mode: which TPM (`/dev/tpmrm0`, `swtpm:HOST:PORT`, `unix:PATH`). */
  tpm?: string
  /** tpm mode: PCR indexes (SHA-256 bank) the seal is bound to. */
  pcrs?: number[]
  /**
   * tpm mode: the recovery code (see `newRecoveryCode`). When sealing, a copy
   * of the secret wrapped by it is kept in the record (required with `pcrs`);
   * when unsealing, it unlocks that copy if the TPM refuses (PCRs changed,
   * another TPM, no TPM).
   */
  recovery?: () => Promise<string>
  /** scrypt cost for passphrase wrapping (tests lower it); default N = 2^17, r = 8, p = 1. */
  kdf?: { logN: number; r: number; p: number }
  /** Random bytes (salts, nonces, session keys); default crypto.randomBytes. */
  random?: (n: number) => Uint8Array
  /** tpm mode: deadline per TPM response in ms (default 30 s). */
  timeoutMs?: number
}

export type UnprotectOptions = Omit<ProtectOptions, 'protection'>

/** Errors of tpm/: `code` is stable, `message` is one clear line for the user. */
export type TpmErrorCode =
  | 'EBADRECORD'
  | 'EPASSPHRASE'
  | 'ENOTPM'
  | 'ETPM'
  | 'EPCR'
  | 'EPROTO'
  | 'ETIMEDOUT'
  | 'EWRONGTPM'

export class TpmError extends Error {
  override name = 'TpmError'
  constructor(
    readonly code: TpmErrorCode,
    message: string,
    /** TPM response code, when the TPM answered with an error. */
    readonly rc?: number,
  ) {
    super(message)
  }
}
