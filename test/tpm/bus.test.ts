/**
 * What crosses the bus: a loopback proxy between our client and swtpm records
 * every byte (and can alter the replies). The secret must not appear in clear
 * in either direction while sealing or unsealing, and an altered reply to
 * Unseal must be caught by the response HMAC.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect, createServer } from 'node:net'
import { test } from 'node:test'
import { protectSecret, TpmError, unprotectSecret } from '../../tpm/index.js'
import { startSwtpm } from '../helpers/swtpm.js'
import type { Teardown } from '../helpers/tmp.js'

process.env.BT_NETWORK ??= 'loopback'

interface Tap {
  spec: string
  /** Everything sent to the TPM and received from it so far. */
  sent: Buffer[]
  received: Buffer[]
  /** Rewrites each chunk coming back from the TPM (identity by default). */
  alter: (chunk: Buffer) => Buffer
  /** Rewrites each chunk going to the TPM. */
  alterSent: (chunk: Buffer) => Buffer
}

async function tap(t: Teardown, port: number): Promise<Tap> {
  const tp: Tap = { spec: '', sent: [], received: [], alter: (b) => b, alterSent: (b) => b }
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port })
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('data', (b) => {
      tp.sent.push(b)
      upstream.write(tp.alterSent(b))
    })
    upstream.on('data', (b) => {
      tp.received.push(b)
      client.write(tp.alter(b))
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  tp.spec = `swtpm:127.0.0.1:${(server.address() as { port: number }).port}`
  return tp
}

function contains(chunks: Buffer[], needle: Uint8Array): boolean {
  const all = Buffer.concat(chunks)
  // Any 8-byte window of the secret would do for an eavesdropper.
  for (let i = 0; i + 8 <= needle.length; i += 4)
    if (all.includes(Buffer.from(needle.subarray(i, i + 8)))) return true
  return false
}

test('the secret never crosses the bus in clear; an altered Unseal reply is rejected', async (t) => {
  const sw = await startSwtpm(t)
  const tp = await tap(t, Number(sw.spec.split(':')[2]))
  const s = new Uint8Array(randomBytes(64))
  const record = await protectSecret(s, { protection: 'tpm', tpm: tp.spec })
  assert.deepEqual(await unprotectSecret(record, { tpm: tp.spec }), s)
  assert.ok(tp.sent.length > 0 && tp.received.length > 0)
  assert.ok(!contains(tp.sent, s), 'secret visible in a command')
  assert.ok(!contains(tp.received, s), 'secret visible in a response')

  // Flip one byte inside the (encrypted) secret of the Unseal response: size 4+64+4 framed, data after the headers.
  tp.alter = (b) => {
    // The Unseal response is the only one with a 64-byte TPM2B right after paramSize.
    const at = b.indexOf(Buffer.from([0x00, 0x00, 0x00, 0x42, 0x00, 0x40]))
    if (at < 0) return b
    const c = Buffer.from(b)
    c[at + 10] = (c[at + 10] as number) ^ 0x01
    return c
  }
  await assert.rejects(unprotectSecret(record, { tpm: tp.spec }), (e: unknown) => {
    assert.ok(e instanceof TpmError)
    assert.equal(e.code, 'EPROTO')
    assert.match(e.message, /response HMAC does not verify/)
    return true
  })
})

test('the TPM checks our command HMAC: an altered Create command is refused', async (t) => {
  const sw = await startSwtpm(t)
  const tp = await tap(t, Number(sw.spec.split(':')[2]))
  tp.alterSent = (b) => {
    // Frame header (9) + command header (10); TPM2_Create is command code 0x153.
    if (b.length < 19 || b.readUInt32BE(9 + 6) !== 0x153) return b
    const c = Buffer.from(b)
    c[c.length - 40] = (c[c.length - 40] as number) ^ 0x01
    return c
  }
  await assert.rejects(
    protectSecret(new Uint8Array(64), { protection: 'tpm', tpm: tp.spec }),
    (e: unknown) => {
      assert.ok(e instanceof TpmError)
      assert.equal(e.code, 'ETPM')
      // BAD_AUTH, not AUTH_FAIL: the primary is noDA, so a failed HMAC costs no lockout tries.
      assert.match(e.message, /TPM_RC_BAD_AUTH \(session 1\)/)
      return true
    },
  )
})
