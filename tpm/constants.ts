/** TPM 2.0 constants (Part 2) used by this client; values are from the spec. */

/** TPM_ST: structure tags. */
export const ST = {
  NO_SESSIONS: 0x8001,
  SESSIONS: 0x8002,
} as const

/** TPM_CC: command codes. */
export const CC = {
  Startup: 0x144,
  Create: 0x153,
  Load: 0x157,
  Unseal: 0x15e,
  FlushContext: 0x165,
  StartAuthSession: 0x176,
  GetRandom: 0x17b,
  PCR_Extend: 0x182,
  PCR_Read: 0x17e,
  PolicyPCR: 0x17f,
  PolicyGetDigest: 0x189,
  CreatePrimary: 0x131,
} as const

/** TPM_ALG_ID. */
export const ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  NULL: 0x0010,
  ECC: 0x0023,
  CFB: 0x0043,
} as const

/** TPM_ECC_CURVE. */
export const ECC_NIST_P256 = 0x0003

/** TPM_RH / TPM_RS handles. */
export const RH = {
  OWNER: 0x40000001,
  NULL: 0x40000007,
  PW: 0x40000009,
} as const

/** TPM_SE: session types. */
export const SE = {
  HMAC: 0x00,
  POLICY: 0x01,
  TRIAL: 0x03,
} as const

/** TPMA_SESSION bits. */
export const SESSION_ATTR = {
  continueSession: 0x01,
  decrypt: 0x20,
  encrypt: 0x40,
} as const

/** TPMA_OBJECT bits. */
export const OBJECT_ATTR = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const

/** TPM_SU for Startup. */
export const SU_CLEAR = 0x0000

/** Size of a SHA-256 digest, the only hash this client uses for names, sessions and policies. */
export const SHA256_SIZE = 32

/** Largest command or response this client sends or accepts (TPM buffers are ~4 KiB). */
export const MAX_RESPONSE = 8192
