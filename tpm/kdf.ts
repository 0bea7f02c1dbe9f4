/**
 * The key derivation and parameter-encryption primitives of TPM 2.0 sessions
 * (Part 1, 11.4.10 KDFa/KDFe, 21 parameter encryption), SHA-256 only.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto'

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0, 0)
  return b
}

/** The label as the spec uses it: its bytes plus the terminating zero. */
function label0(label: string): Buffer {
  return Buffer.concat([Buffer.from(label, 'ascii'), Buffer.alloc(1)])
}

/** KDFa (SP 800-108 counter mode, HMAC-SHA256): `bits` of key from `key`. */
export function kdfa(
  key: Uint8Array,
  label: string,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Buffer {
  const out: Buffer[] = []
  const bytes = bits / 8
  for (let i = 1, have = 0; have < bytes; i++) {
    const h = createHmac('sha256', key)
      .update(u32(i))
      .update(label0(label))
      .update(contextU)
      .update(contextV)
      .update(u32(bits))
      .digest()
    out.push(h)
    have += h.length
  }
  return Buffer.concat(out).subarray(0, bytes)
}

/** KDFe (SP 800-56A concatenation KDF, SHA-256) over an ECDH shared x-coordinate `z`. */
export function kdfe(
  z: Uint8Array,
  label: string,
  partyU: Uint8Array,
  partyV: Uint8Array,
  bits: number,
): Buffer {
  const out: Buffer[] = []
  const bytes = bits / 8
  for (let i = 1, have = 0; have < bytes; i++) {
    const h = createHash('sha256')
      .update(u32(i))
      .update(z)
      .update(label0(label))
      .update(partyU)
      .update(partyV)
      .digest()
    out.push(h)
    have += h.length
  }
  return Buffer.concat(out).subarray(0, bytes)
}

/**
 * AES-128-CFB parameter encryption: key and IV come from KDFa(sessionValue,
 * "CFB", nonceNewer, nonceOlder); the nonce order makes each direction differ.
 */
export function cfb(
  encrypt: boolean,
  sessionValue: Uint8Array,
  nonceNewer: Uint8Array,
  nonceOlder: Uint8Array,
  data: Uint8Array,
): Buffer {
  const k = kdfa(sessionValue, 'CFB', nonceNewer, nonceOlder, 256)
  const key = k.subarray(0, 16)
  const iv = k.subarray(16, 32)
  const c = encrypt ? createCipheriv('aes-128-cfb', key, iv) : createDecipheriv('aes-128-cfb', key, iv)
  return Buffer.concat([c.update(data), c.final()])
}

export function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', key)
  for (const p of parts) h.update(p)
  return h.digest()
}
