/**
 * The TPM 2.0 structures this client builds and reads (Part 2): object
 * templates (the storage primary, sealed data objects), PCR selections,
 * names.
 */
import { ALG, ECC_NIST_P256, OBJECT_ATTR } from './constants.js'
import { sha256 } from './kdf.js'
import { Reader, Writer } from './marshal.js'
import { TpmError } from './types.js'

/**
 * Attributes of the storage primary: the TCG "SRK" profile (restricted
 * decryption key, AES-128-CFB for children, no dictionary-attack lockout).
 */
export const PRIMARY_ATTRIBUTES =
  OBJECT_ATTR.fixedTPM |
  OBJECT_ATTR.fixedParent |
  OBJECT_ATTR.sensitiveDataOrigin |
  OBJECT_ATTR.userWithAuth |
  OBJECT_ATTR.noDA |
  OBJECT_ATTR.restricted |
  OBJECT_ATTR.decrypt

/**
 * TPMT_PUBLIC of the storage primary: ECC P-256, SHA-256 name, unique x and y
 * of 32 zero bytes (the TCG provisioning guidance's SRK template). Recreating
 * it from the owner hierarchy yields the same key on the same TPM every time,
 * so no persistent handle is needed.
 */
export function primaryTemplate(): Buffer {
  return new Writer()
    .u16(ALG.ECC)
    .u16(ALG.SHA256)
    .u32(PRIMARY_ATTRIBUTES)
    .tpm2b(new Uint8Array(0))
    .u16(ALG.AES)
    .u16(128)
    .u16(ALG.CFB)
    .u16(ALG.NULL) // scheme
    .u16(ECC_NIST_P256)
    .u16(ALG.NULL) // kdf
    .tpm2b(new Uint8Array(32))
    .tpm2b(new Uint8Array(32))
    .finish()
}

/** TPMT_PUBLIC of a sealed data object; with a policy, only the policy may unseal it. */
export function sealedTemplate(authPolicy: Uint8Array | undefined): Buffer {
  let attrs = OBJECT_ATTR.fixedTPM | OBJECT_ATTR.fixedParent | OBJECT_ATTR.noDA
  if (!authPolicy?.length) attrs |= OBJECT_ATTR.userWithAuth
  return new Writer()
    .u16(ALG.KEYEDHASH)
    .u16(ALG.SHA256)
    .u32(attrs)
    .tpm2b(authPolicy ?? new Uint8Array(0))
    .u16(ALG.NULL) // keyed-hash scheme
    .tpm2b(new Uint8Array(0))
    .finish()
}

/** The name of an object: nameAlg || H(TPMT_PUBLIC), for SHA-256 objects. */
export function objectName(publicArea: Uint8Array): Buffer {
  const alg = Buffer.alloc(2)
  alg.writeUInt16BE(ALG.SHA256, 0)
  return Buffer.concat([alg, sha256(publicArea)])
}

/** What this client needs to know about a TPMT_PUBLIC. */
export interface PublicInfo {
  type: number
  nameAlg: number
  attributes: number
  /** ECC keys: the public point. */
  ecc?: { x: Uint8Array; y: Uint8Array; curve: number }
}

/** Parse the parts of a TPMT_PUBLIC this client uses (ECC keys and keyed-hash objects). */
export function parsePublic(publicArea: Uint8Array): PublicInfo {
  const r = new Reader(publicArea, 'TPMT_PUBLIC')
  const type = r.u16()
  const nameAlg = r.u16()
  const attributes = r.u32()
  r.tpm2b() // authPolicy
  if (type === ALG.ECC) {
    const sym = r.u16()
    if (sym !== ALG.NULL) r.bytes(4) // keyBits, mode
    const scheme = r.u16()
    if (scheme !== ALG.NULL) r.bytes(2) // scheme hash
    const curve = r.u16()
    const kdf = r.u16()
    if (kdf !== ALG.NULL) r.bytes(2)
    const x = r.tpm2b()
    const y = r.tpm2b()
    r.end()
    return { type, nameAlg, attributes, ecc: { x, y, curve } }
  }
  if (type === ALG.KEYEDHASH) {
    const scheme = r.u16()
    if (scheme !== ALG.NULL) r.bytes(4)
    r.tpm2b()
    r.end()
    return { type, nameAlg, attributes }
  }
  return { type, nameAlg, attributes }
}

/** TPML_PCR_SELECTION selecting `pcrs` in the SHA-256 bank (empty list: count 0). */
export function pcrSelection(pcrs: readonly number[]): Buffer {
  const w = new Writer()
  if (pcrs.length === 0) return w.u32(0).finish()
  const bits = new Uint8Array(3)
  for (const p of pcrs) {
    if (!Number.isInteger(p) || p < 0 || p > 23) throw new TpmError('EPCR', `PCR index ${p} is not 0..23`)
    bits[p >> 3] = (bits[p >> 3] as number) | (1 << (p & 7))
  }
  return w.u32(1).u16(ALG.SHA256).u8(3).bytes(bits).finish()
}

/** Sorted, de-duplicated PCR indexes (checked 0..23). */
export function normalizePcrs(pcrs: readonly number[] | undefined): number[] {
  const out = [...new Set(pcrs ?? [])].sort((a, b) => a - b)
  pcrSelection(out)
  return out
}

/** Read the PCR indexes selected by a TPML_PCR_SELECTION (SHA-256 bank only). */
export function readPcrSelection(r: Reader): number[] {
  const count = r.u32()
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    const hash = r.u16()
    const size = r.u8()
    const bits = r.bytes(size)
    if (hash !== ALG.SHA256) continue
    for (let b = 0; b < size * 8; b++) if ((bits[b >> 3] as number) & (1 << (b & 7))) out.push(b)
  }
  return out
}
