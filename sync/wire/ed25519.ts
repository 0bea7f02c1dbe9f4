/**
 * Ed25519 over node:crypto for the protocol's signatures (membership entries).
 * A node's identity is a 32-byte seed; its id is the hex public key, derived
 * the same way as node/identity.ts `publicKeyHex` (PKCS#8 wrapping of the seed).
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
/** DER prefix of an SPKI Ed25519 public key; the 32-byte key follows. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** A node's signing identity. */
export interface Signer {
  /** Hex public key (= node id). */
  readonly nodeId: string
  sign(message: Uint8Array): Uint8Array
}

/** A signer from a 32-byte Ed25519 seed. */
export function signerFromSeed(seed: Uint8Array): Signer {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes')
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  const nodeId = spki.subarray(spki.length - 32).toString('hex')
  return { nodeId, sign: (m) => new Uint8Array(sign(null, m, key)) }
}

// Verifying keys are parsed once per node; a tree has few members.
const publicKeys = new Map<string, KeyObject>()

/** Check an Ed25519 signature by node `nodeId` (64 hex). False on any malformed input. */
export function verifySignature(nodeId: string, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false
  let key = publicKeys.get(nodeId)
  if (!key) {
    try {
      key = createPublicKey({
        key: Buffer.concat([SPKI_PREFIX, Buffer.from(nodeId, 'hex')]),
        format: 'der',
        type: 'spki',
      })
    } catch {
      return false
    }
    if (publicKeys.size >= 4096) publicKeys.clear()
    publicKeys.set(nodeId, key)
  }
  try {
    return verify(null, message, key, signature)
  } catch {
    return false
  }
}
