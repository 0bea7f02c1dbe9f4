import assert from 'node:assert/strict'
import { test } from 'node:test'
import { kdfa } from '../../tpm/kdf.js'
import { Reader, Writer } from '../../tpm/marshal.js'
import { RC_FMT1, rcBase, rcName } from '../../tpm/rc.js'
import { normalizePcrs, pcrSelection, readPcrSelection } from '../../tpm/structures.js'
import { resolveTpmSpec } from '../../tpm/transport.js'
import { TpmError } from '../../tpm/types.js'

test('response codes decode to names with their handle, parameter or session', () => {
  assert.equal(rcName(0), 'TPM_RC_SUCCESS')
  assert.equal(rcName(0x100), 'TPM_RC_INITIALIZE [0x100]')
  assert.equal(rcName(0x101), 'TPM_RC_FAILURE [0x101]')
  assert.equal(rcName(0x99d), 'TPM_RC_POLICY_FAIL (session 1) [0x99d]')
  assert.equal(rcName(0x1df), 'TPM_RC_INTEGRITY (parameter 1) [0x1df]')
  assert.equal(rcName(0x18b), 'TPM_RC_HANDLE (handle 1) [0x18b]')
  assert.equal(rcName(0x902), 'TPM_RC_OBJECT_MEMORY [0x902]')
  assert.equal(rcName(0x922), 'TPM_RC_RETRY [0x922]')
  assert.equal(rcName(0x1e), 'TPM 1.2 response code 0x01e')
  assert.equal(rcName(0x500), 'vendor response code 0x500')
  assert.equal(rcBase(0x99d), RC_FMT1.POLICY_FAIL)
  assert.equal(rcBase(0x1df), RC_FMT1.INTEGRITY)
})

test('marshalling round trip; reads past the end are EPROTO', () => {
  const b = new Writer()
    .u8(1)
    .u16(0x203)
    .u32(0xdeadbeef)
    .tpm2b(new Uint8Array([9, 8]))
    .finish()
  assert.equal(b.toString('hex'), '010203deadbeef00020908')
  const r = new Reader(b)
  assert.deepEqual([r.u8(), r.u16(), r.u32(), [...r.tpm2b()]], [1, 0x203, 0xdeadbeef, [9, 8]])
  r.end()
  const short = new Reader(Buffer.from([0, 5, 1]), 'thing')
  assert.throws(
    () => short.tpm2b(),
    (e: unknown) => e instanceof TpmError && e.code === 'EPROTO' && /thing is truncated/.test(e.message),
  )
  const long = new Reader(Buffer.from([1, 2]))
  long.u8()
  assert.throws(() => long.end(), /trailing/)
  // A Writer grows past its first buffer.
  assert.equal(new Writer().bytes(new Uint8Array(1000)).u8(7).finish().length, 1001)
})

test('PCR selections (SHA-256 bank)', () => {
  assert.equal(pcrSelection([]).toString('hex'), '00000000')
  assert.equal(pcrSelection([0, 7, 16, 23]).toString('hex'), '00000001000b03810081')
  assert.deepEqual(readPcrSelection(new Reader(pcrSelection([23, 7, 16]))), [7, 16, 23])
  assert.deepEqual(normalizePcrs([16, 7, 16]), [7, 16])
  assert.throws(() => normalizePcrs([24]), /0\.\.23/)
  assert.throws(() => normalizePcrs([1.5]), /0\.\.23/)
})

test('KDFa output length and labels', () => {
  const key = Buffer.alloc(32, 1)
  const a = kdfa(key, 'CFB', Buffer.alloc(32, 2), Buffer.alloc(32, 3), 256)
  assert.equal(a.length, 32)
  assert.equal(kdfa(key, 'CFB', Buffer.alloc(32, 2), Buffer.alloc(32, 3), 384).length, 48)
  assert.notDeepEqual(a, kdfa(key, 'ATH', Buffer.alloc(32, 2), Buffer.alloc(32, 3), 256))
  assert.notDeepEqual(a, kdfa(key, 'CFB', Buffer.alloc(32, 3), Buffer.alloc(32, 2), 256))
})

test('which TPM: the spec, else $BT_TPM, else /dev/tpmrm0', (t) => {
  const old = process.env.BT_TPM
  t.after(() => {
    if (old === undefined) delete process.env.BT_TPM
    else process.env.BT_TPM = old
  })
  delete process.env.BT_TPM
  assert.equal(resolveTpmSpec(), '/dev/tpmrm0')
  process.env.BT_TPM = 'unix:/run/swtpm.sock'
  assert.equal(resolveTpmSpec(), 'unix:/run/swtpm.sock')
  assert.equal(resolveTpmSpec('swtpm:127.0.0.1:2321'), 'swtpm:127.0.0.1:2321')
})
