import assert from 'node:assert/strict'
import { test } from 'node:test'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import {
  CHUNK_OVERHEAD,
  ChunkCipher,
  chunkIdOf,
  hchacha20,
  xchachaOpen,
  xchachaSeal,
} from '../../store/index.js'
import { seededBytes } from './util.js'

const hex = (s: string): Uint8Array => Buffer.from(s.replace(/\s+/g, ''), 'hex')
const range = (from: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => from + i)

test('HChaCha20 matches draft-irtf-cfrg-xchacha-03 §2.2.1', () => {
  const key = range(0, 32)
  const nonce = hex('000000090000004a0000000031415927')
  assert.equal(
    Buffer.from(hchacha20(key, nonce)).toString('hex'),
    '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc',
  )
})

test('XChaCha20-Poly1305 matches draft-irtf-cfrg-xchacha-03 §A.3.1', () => {
  const plain = Buffer.from(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  )
  const aad = hex('50515253c0c1c2c3c4c5c6c7')
  const key = range(0x80, 32)
  const nonce = range(0x40, 24)
  const expected = hex(`
    bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
    731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
    2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
    21f9664c97637da9768812f615c68b13b52e
    c0875924c1c7987947deafd8780acf49`)
  const sealed = xchachaSeal(key, nonce, plain, aad)
  assert.equal(Buffer.from(sealed).toString('hex'), Buffer.from(expected).toString('hex'))
  assert.deepEqual(Buffer.from(xchachaOpen(key, nonce, sealed, aad)!), plain)
  const tampered = Uint8Array.from(sealed)
  tampered[5]! ^= 1
  assert.equal(xchachaOpen(key, nonce, tampered, aad), undefined)
  assert.equal(xchachaOpen(key, nonce, sealed, hex('00')), undefined, 'wrong AAD fails')
})

test('our XChaCha20-Poly1305 agrees with @noble/ciphers on random inputs', () => {
  for (let i = 0; i < 20; i++) {
    const key = seededBytes(32, 1 + i)
    const nonce = seededBytes(24, 100 + i)
    const plain = seededBytes(i * 997, 200 + i)
    const ours = xchachaSeal(key, nonce, plain)
    const theirs = xchacha20poly1305(key, nonce).encrypt(plain)
    assert.deepEqual(Buffer.from(ours), Buffer.from(theirs))
  }
})

test('ChunkCipher: deterministic per key, layout version|nonce|ct|tag, tamper and wrong key rejected', () => {
  const a = new ChunkCipher(seededBytes(32, 1))
  const a2 = new ChunkCipher(seededBytes(32, 1))
  const b = new ChunkCipher(seededBytes(32, 2))
  const plain = seededBytes(70_000, 3)
  const sa = a.seal(plain)
  assert.equal(sa.length, plain.length + CHUNK_OVERHEAD)
  assert.equal(sa[0], 1)
  assert.deepEqual(Buffer.from(a2.seal(plain)), Buffer.from(sa), 'same key, same plaintext ⇒ same bytes')
  assert.notEqual(chunkIdOf(b.seal(plain)), chunkIdOf(sa), 'different key ⇒ different id')
  assert.notDeepEqual(
    Buffer.from(a.seal(seededBytes(70_000, 4)).subarray(1, 25)),
    Buffer.from(sa.subarray(1, 25)),
  )
  assert.deepEqual(Buffer.from(a.open(sa)!), Buffer.from(plain))
  // The nonce is keyed-BLAKE3(plaintext), reset between chunks: sealing in between must not change it.
  a.seal(seededBytes(10, 5))
  assert.deepEqual(Buffer.from(a.seal(plain)), Buffer.from(sa))
  assert.equal(b.open(sa), undefined)
  for (const at of [0, 1, 30, sa.length - 1]) {
    const t = Uint8Array.from(sa)
    t[at]! ^= 0x80
    assert.equal(a.open(t), undefined, `flipped byte ${at}`)
  }
  assert.equal(a.open(sa.subarray(0, 20)), undefined)
  assert.equal(a.open(new Uint8Array(0)), undefined)
  assert.deepEqual(Buffer.from(a.open(a.seal(new Uint8Array(0)))!), Buffer.alloc(0))
  assert.throws(() => new ChunkCipher(new Uint8Array(31)), RangeError)
})
