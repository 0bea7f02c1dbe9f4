/**
 * Wrapping a secret with a passphrase: scrypt (N = 2^17, r = 8, p = 1 by
 * default: ~128 MiB and a few hundred ms per guess) derives an AES-256-GCM
 * key; salt and nonce are random per wrap. Used by the `passphrase` mode, the
 * recovery copy of a TPM seal and the export format.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto'
import { TpmError } from './types.js'

/** scrypt cost, N = 2^logN. */
export interface KdfParams {
  logN: number
  r: number
  p: number
}

/** Production cost: N = 2^17, r = 8, p = 1. Tests may lower it (`kdf` option); records keep what they used. */
export const DEFAULT_KDF: KdfParams = { logN: 17, r: 8, p: 1 }

/** Source of random bytes; default crypto.randomBytes (tpm/ is not deterministic node core). */
export type RandomFn = (n: number) => Uint8Array

export const defaultRandom: RandomFn = (n) => randomBytes(n)

/** A wrapped secret as stored in JSON (binary fields base64). */
export interface WrappedSecret {
  kdf: 'scrypt'
  logN: number
  r: number
  p: number
  salt: string
  /** AES-256-GCM nonce (12 bytes). */
  nonce: string
  /** Ciphertext followed by the 16-byte tag. */
  ct: string
}

const SALT_BYTES = 16
const NONCE_BYTES = 12
const TAG_BYTES = 16

/** Reject costs that are too weak to be ours or so large a tampered record could exhaust memory. */
export function checkKdf(k: KdfParams, where: string): void {
  const ok =
    Number.isInteger(k.logN) &&
    Number.isInteger(k.r) &&
    Number.isInteger(k.p) &&
    k.logN >= 10 &&
    k.logN <= 22 &&
    k.r >= 1 &&
    k.r <= 32 &&
    k.p >= 1 &&
    k.p <= 16 &&
    128 * 2 ** k.logN * k.r <= 1024 * 1024 * 1024
  if (!ok) throw new TpmError('EBADRECORD', `${where}: unsupported scrypt parameters`)
}

/** The scrypt key (32 bytes) for a passphrase; the passphrase is NFC-normalised so input methods agree. */
export function deriveKey(passphrase: string, salt: Uint8Array, k: KdfParams): Promise<Buffer> {
  if (!passphrase) throw new TpmError('EPASSPHRASE', 'the passphrase is empty')
  const N = 2 ** k.logN
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      32,
      { N, r: k.r, p: k.p, maxmem: 128 * N * k.r + 32 * 1024 * 1024 },
      (err, key) =>
        err ? reject(new TpmError('EPASSPHRASE', `scrypt failed: ${err.message}`)) : resolve(key),
    )
  })
}

export function aesGcmSeal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array, aad: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce)
  c.setAAD(aad)
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()])
}

/** undefined when the tag does not verify (wrong key or altered bytes). */
export function aesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Buffer | undefined {
  if (sealed.length < TAG_BYTES) return undefined
  const d = createDecipheriv('aes-256-gcm', key, nonce)
  d.setAAD(aad)
  d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
  try {
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG_BYTES)), d.final()])
  } catch {
    return undefined
  }
}

/** Wrap `secret` under a passphrase; `context` is bound in as associated data (which use this is). */
export async function wrapWithPassphrase(
  secret: Uint8Array,
  passphrase: string,
  context: string,
  o: { kdf?: KdfParams; random?: RandomFn } = {},
): Promise<WrappedSecret> {
  const k = o.kdf ?? DEFAULT_KDF
  checkKdf(k, context)
  const random = o.random ?? defaultRandom
  const salt = random(SALT_BYTES)
  const nonce = random(NONCE_BYTES)
  const key = await deriveKey(passphrase, salt, k)
  const ct = aesGcmSeal(key, nonce, secret, aad(context, k))
  key.fill(0)
  return {
    kdf: 'scrypt',
    logN: k.logN,
    r: k.r,
    p: k.p,
    salt: Buffer.from(salt).toString('base64'),
    nonce: Buffer.from(nonce).toString('base64'),
    ct: ct.toString('base64'),
  }
}

/** Unwrap; TpmError EPASSPHRASE for a wrong passphrase, EBADRECORD for a malformed record. */
export async function unwrapWithPassphrase(
  w: unknown,
  passphrase: string,
  context: string,
): Promise<Uint8Array> {
  const rec = w as Partial<WrappedSecret> | null
  if (
    !rec ||
    typeof rec !== 'object' ||
    rec.kdf !== 'scrypt' ||
    typeof rec.salt !== 'string' ||
    typeof rec.nonce !== 'string' ||
    typeof rec.ct !== 'string'
  )
    throw new TpmError('EBADRECORD', `${context}: wrapped key record is malformed`)
  const k = { logN: rec.logN as number, r: rec.r as number, p: rec.p as number }
  checkKdf(k, context)
  const salt = Buffer.from(rec.salt, 'base64')
  const nonce = Buffer.from(rec.nonce, 'base64')
  const ct = Buffer.from(rec.ct, 'base64')
  if (salt.length !== SALT_BYTES || nonce.length !== NONCE_BYTES || ct.length < TAG_BYTES)
    throw new TpmError('EBADRECORD', `${context}: wrapped key record is malformed`)
  const key = await deriveKey(passphrase, salt, k)
  const plain = aesGcmOpen(key, nonce, ct, aad(context, k))
  key.fill(0)
  if (!plain)
    throw new TpmError('EPASSPHRASE', `${context}: wrong passphrase (or the key record was altered)`)
  return new Uint8Array(plain)
}

function aad(context: string, k: KdfParams): Buffer {
  return Buffer.from(`blocktree ${context} scrypt ${k.logN} ${k.r} ${k.p}`, 'utf8')
}

/** Crockford base32 without I, L, O, U: no characters a person confuses when typing a code. */
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/**
 * A recovery code: 160 random bits as 32 base32 characters in groups of 4
 * (`7KQ2-...`). Shown to the user once; it unlocks the recovery copy of a
 * TPM-sealed secret when the TPM refuses (PCRs changed, TPM replaced).
 */
export function newRecoveryCode(random: RandomFn = defaultRandom): string {
  const bytes = random(20)
  let bits = 0
  let acc = 0
  let out = ''
  for (const b of bytes) {
    acc = (acc << 8) | b
    bits += 8
    while (bits >= 5) {
      out += CODE_ALPHABET[(acc >> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return (out.match(/.{4}/g) as string[]).join('-')
}

/** A recovery code as typed (any case, with or without dashes/spaces) in its canonical form. */
export function normalizeRecoveryCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '')
}
