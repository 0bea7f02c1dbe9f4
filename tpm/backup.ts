/**
 * The export format of a master secret (`bt key export` / `bt key import`):
 * an encrypted, versioned, checksummed blob, ASCII-armoured so it can be
 * printed or kept in a password manager.
 *
 *   magic "BTKEYBAK" (8) | version u8 = 1 | kdf u8 = 1 (scrypt) | logN u8 | r u8 | p u8
 *   | salt (16) | nonce (12) | length u16 | AES-256-GCM ciphertext + tag (length)
 *   | checksum: first 8 bytes of SHA-256 of everything before
 *
 * The header is the GCM associated data. The checksum separates "this file is
 * damaged" (EBADRECORD) from "wrong passphrase" (EPASSPHRASE), which a GCM tag
 * alone cannot.
 */
import { createHash } from 'node:crypto'
import { Reader, Writer } from './marshal.js'
import {
  aesGcmOpen,
  aesGcmSeal,
  checkKdf,
  DEFAULT_KDF,
  defaultRandom,
  deriveKey,
  type KdfParams,
  type RandomFn,
} from './passphrase.js'
import { TpmError } from './types.js'

const MAGIC = Buffer.from('BTKEYBAK', 'ascii')
const VERSION = 1
const KDF_SCRYPT = 1
const BEGIN = '-----BEGIN BLOCKTREE KEY BACKUP-----'
const END = '-----END BLOCKTREE KEY BACKUP-----'

export interface ExportOptions {
  kdf?: KdfParams
  random?: RandomFn
}

function checksum(b: Uint8Array): Buffer {
  return createHash('sha256').update(b).digest().subarray(0, 8)
}

/** Encrypt `secret` under `passphrase` into an armoured backup (a string ending in a newline). */
export async function exportSecret(
  secret: Uint8Array,
  passphrase: string,
  o: ExportOptions = {},
): Promise<string> {
  const k = o.kdf ?? DEFAULT_KDF
  checkKdf(k, 'key backup')
  const random = o.random ?? defaultRandom
  const salt = random(16)
  const nonce = random(12)
  const header = new Writer()
    .bytes(MAGIC)
    .u8(VERSION)
    .u8(KDF_SCRYPT)
    .u8(k.logN)
    .u8(k.r)
    .u8(k.p)
    .bytes(salt)
    .bytes(nonce)
    .u16(secret.length + 16)
    .finish()
  const key = await deriveKey(passphrase, salt, k)
  const ct = aesGcmSeal(key, nonce, secret, header)
  key.fill(0)
  const body = Buffer.concat([header, ct])
  const blob = Buffer.concat([body, checksum(body)])
  const lines = blob.toString('base64').match(/.{1,64}/g) as string[]
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`
}

/** The binary blob inside an armoured backup (or the bytes as given, if not armoured). */
function unarmor(blob: string | Uint8Array): Buffer {
  const text = typeof blob === 'string' ? blob : Buffer.from(blob).toString('latin1')
  const begin = text.indexOf(BEGIN)
  if (begin < 0) {
    if (typeof blob === 'string')
      throw new TpmError('EBADRECORD', 'not a blocktree key backup (no BEGIN line)')
    return Buffer.from(blob)
  }
  const end = text.indexOf(END, begin)
  if (end < 0) throw new TpmError('EBADRECORD', 'key backup is truncated (no END line)')
  const b64 = text.slice(begin + BEGIN.length, end).replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64))
    throw new TpmError('EBADRECORD', 'key backup is corrupted (not base64)')
  return Buffer.from(b64, 'base64')
}

/** Decrypt a backup made by `exportSecret`: EBADRECORD if damaged, EPASSPHRASE if the passphrase is wrong. */
export async function importSecret(blob: string | Uint8Array, passphrase: string): Promise<Uint8Array> {
  const bin = unarmor(blob)
  if (bin.length < MAGIC.length || !bin.subarray(0, MAGIC.length).equals(MAGIC))
    throw new TpmError('EBADRECORD', 'not a blocktree key backup (bad magic)')
  if (bin.length < 8 + MAGIC.length) throw new TpmError('EBADRECORD', 'key backup is truncated')
  const body = bin.subarray(0, bin.length - 8)
  if (!checksum(body).equals(bin.subarray(bin.length - 8)))
    throw new TpmError('EBADRECORD', 'key backup is corrupted (checksum mismatch)')
  const r = new Reader(body, 'key backup')
  let k: KdfParams
  let salt: Uint8Array
  let nonce: Uint8Array
  let ct: Uint8Array
  try {
    r.bytes(MAGIC.length)
    const version = r.u8()
    if (version !== VERSION)
      throw new TpmError('EBADRECORD', `key backup version ${version} is not supported`)
    const kdf = r.u8()
    if (kdf !== KDF_SCRYPT) throw new TpmError('EBADRECORD', `key backup uses unknown KDF ${kdf}`)
    k = { logN: r.u8(), r: r.u8(), p: r.u8() }
    salt = r.bytes(16)
    nonce = r.bytes(12)
    ct = r.bytes(r.u16())
    r.end()
  } catch (e) {
    if (e instanceof TpmError && e.code === 'EPROTO')
      throw new TpmError('EBADRECORD', `key backup is malformed: ${e.message}`)
    throw e
  }
  checkKdf(k, 'key backup')
  const header = body.subarray(0, body.length - ct.length)
  const key = await deriveKey(passphrase, salt, k)
  const plain = aesGcmOpen(key, nonce, ct, header)
  key.fill(0)
  if (!plain) throw new TpmError('EPASSPHRASE', 'wrong passphrase for this key backup')
  return new Uint8Array(plain)
}
