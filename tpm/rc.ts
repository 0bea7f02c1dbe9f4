/**
 * TPM_RC decoding (TPM 2.0 Part 2, 6.6): turns a response code into a readable
 * name such as `TPM_RC_POLICY_FAIL (session 1)` for error messages.
 */

/** Format-0 TPM 2.0 errors (RC_VER1 + n). */
const VER1: Record<number, string> = {
  0: 'INITIALIZE',
  1: 'FAILURE',
  3: 'SEQUENCE',
  11: 'PRIVATE',
  25: 'HMAC',
  32: 'DISABLED',
  33: 'EXCLUSIVE',
  36: 'AUTH_TYPE',
  37: 'AUTH_MISSING',
  38: 'POLICY',
  39: 'PCR',
  40: 'PCR_CHANGED',
  45: 'UPGRADE',
  46: 'TOO_MANY_CONTEXTS',
  47: 'AUTH_UNAVAILABLE',
  48: 'REBOOT',
  49: 'UNBALANCED',
  66: 'COMMAND_SIZE',
  67: 'COMMAND_CODE',
  68: 'AUTHSIZE',
  69: 'AUTH_CONTEXT',
  70: 'NV_RANGE',
  71: 'NV_SIZE',
  72: 'NV_LOCKED',
  73: 'NV_AUTHORIZATION',
  74: 'NV_UNINITIALIZED',
  75: 'NV_SPACE',
  76: 'NV_DEFINED',
  80: 'BAD_CONTEXT',
  81: 'CPHASH',
  82: 'PARENT',
  83: 'NEEDS_TEST',
  84: 'NO_RESULT',
  85: 'SENSITIVE',
}

/** Format-1 errors (RC_FMT1 + n): tied to a handle, parameter or session. */
const FMT1: Record<number, string> = {
  1: 'ASYMMETRIC',
  2: 'ATTRIBUTES',
  3: 'HASH',
  4: 'VALUE',
  5: 'HIERARCHY',
  7: 'KEY_SIZE',
  8: 'MGF',
  9: 'MODE',
  10: 'TYPE',
  11: 'HANDLE',
  12: 'KDF',
  13: 'RANGE',
  14: 'AUTH_FAIL',
  15: 'NONCE',
  16: 'PP',
  18: 'SCHEME',
  21: 'SIZE',
  22: 'SYMMETRIC',
  23: 'TAG',
  24: 'SELECTOR',
  26: 'INSUFFICIENT',
  27: 'SIGNATURE',
  28: 'KEY',
  29: 'POLICY_FAIL',
  31: 'INTEGRITY',
  32: 'TICKET',
  33: 'RESERVED_BITS',
  34: 'BAD_AUTH',
  35: 'EXPIRED',
  36: 'POLICY_CC',
  37: 'BINDING',
  38: 'CURVE',
  39: 'ECC_POINT',
}

/** Warnings (RC_WARN + n): transient conditions. */
const WARN: Record<number, string> = {
  1: 'CONTEXT_GAP',
  2: 'OBJECT_MEMORY',
  3: 'SESSION_MEMORY',
  4: 'MEMORY',
  5: 'SESSION_HANDLES',
  6: 'OBJECT_HANDLES',
  7: 'LOCALITY',
  8: 'YIELDED',
  9: 'CANCELED',
  10: 'TESTING',
  33: 'LOCKOUT',
  34: 'RETRY',
  35: 'NV_UNAVAILABLE',
}

export const RC_SUCCESS = 0
export const RC_INITIALIZE = 0x100

/** Warnings after which the same command may simply be sent again: YIELDED, TESTING, RETRY. */
export const RC_RETRYABLE: ReadonlySet<number> = new Set([0x908, 0x90a, 0x922])

/** The base error of `rc` without its handle/parameter/session number (format 1), else `rc`. */
export function rcBase(rc: number): number {
  return rc & 0x80 ? rc & 0xbf : rc
}

/** Format-1 base codes worth comparing against. */
export const RC_FMT1 = {
  AUTH_FAIL: 0x08e,
  POLICY_FAIL: 0x09d,
  INTEGRITY: 0x09f,
  BAD_AUTH: 0x0a2,
  HANDLE: 0x08b,
} as const

/** A readable name for a TPM response code, e.g. `TPM_RC_INTEGRITY (parameter 1)`. */
export function rcName(rc: number): string {
  const hex = `0x${rc.toString(16).padStart(3, '0')}`
  if (rc === 0) return 'TPM_RC_SUCCESS'
  if (rc & 0x80) {
    const n = rc & 0x3f
    const name = FMT1[n] ?? `format-1 error ${n}`
    const num = (rc >> 8) & 0xf
    let where = ''
    if (rc & 0x40) where = ` (parameter ${num})`
    else if (num & 0x8) where = ` (session ${num & 0x7})`
    else if (num) where = ` (handle ${num})`
    return `TPM_RC_${name}${where} [${hex}]`
  }
  if (!(rc & 0x100)) return `TPM 1.2 response code ${hex}`
  if (rc & 0x400) return `vendor response code ${hex}`
  const n = rc & 0x7f
  const name = rc & 0x800 ? WARN[n] : VER1[n]
  return `TPM_RC_${name ?? `${rc & 0x800 ? 'warning' : 'error'} ${n}`} [${hex}]`
}
