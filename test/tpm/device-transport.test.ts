/**
 * The character-device transport (`/dev/tpmrm0`) over a fake device handle:
 * this machine (and CI) has no TPM device, so the handle's write/read are
 * scripted. The TPM commands themselves are covered against swtpm.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { TpmClient } from '../../tpm/client.js'
import { type DeviceHandle, DeviceTransport, openTransport } from '../../tpm/transport.js'
import { TpmError } from '../../tpm/types.js'
import { tmpDir } from '../helpers/tmp.js'

/** A fake device: each command written gets `reply(command)` as the next read (or a never-settling read). */
function device(reply: (command: Buffer) => Buffer | 'hang' | Error): DeviceHandle & { closed: boolean } {
  let pending: Buffer | 'hang' | Error = Buffer.alloc(0)
  const fake = {
    closed: false,
    async write(b: Uint8Array) {
      pending = reply(Buffer.from(b))
      return { bytesWritten: b.length, buffer: b }
    },
    async read(buf: Uint8Array) {
      const p = pending
      if (p === 'hang') return new Promise<never>(() => undefined)
      if (p instanceof Error) throw p
      buf.set(p)
      return { bytesRead: p.length, buffer: buf }
    },
    async close() {
      fake.closed = true
    },
  }
  return fake as unknown as DeviceHandle & { closed: boolean }
}

function getRandomReply(bytes: number[]): Buffer {
  const r = Buffer.alloc(12 + bytes.length)
  r.writeUInt16BE(0x8001, 0)
  r.writeUInt32BE(r.length, 2)
  r.writeUInt16BE(bytes.length, 10)
  Buffer.from(bytes).copy(r, 12)
  return r
}

function code(c: string, pattern?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TpmError, String(e))
    assert.equal(e.code, c, e.message)
    if (pattern) assert.match(e.message, pattern)
    return true
  }
}

test('a command goes out as written and its response comes back', async () => {
  let seen: Buffer | undefined
  const dev = device((cmd) => {
    seen = cmd
    return getRandomReply([7, 8, 9])
  })
  const c = TpmClient.over(new DeviceTransport('/dev/fake', dev, 500))
  assert.deepEqual(await c.getRandom(3), new Uint8Array([7, 8, 9]))
  // TPM2_GetRandom(3): tag 8001, size 12, cc 0x17b, bytesRequested 3.
  assert.equal(seen?.toString('hex'), '80010000000c0000017b0003')
  await c.close()
  assert.ok(dev.closed)
})

test('short, inconsistent, failing or silent device reads: EPROTO / ETIMEDOUT, then the transport stays failed', async () => {
  const cases: [Buffer | 'hang' | Error, string, RegExp][] = [
    [Buffer.from([0x80, 1, 0]), 'EPROTO', /truncated response \(3 bytes\)/],
    [
      (() => {
        const r = getRandomReply([1])
        r.writeUInt32BE(200, 2)
        return r
      })(),
      'EPROTO',
      /header says 200/,
    ],
    [
      (() => {
        const r = getRandomReply([1])
        r.writeUInt32BE(0x7fffffff, 2)
        return r
      })(),
      'EPROTO',
      /impossible size/,
    ],
    [Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }), 'EPROTO', /EIO/],
    ['hang', 'ETIMEDOUT', /did not answer within 100 ms/],
  ]
  for (const [reply, c, pattern] of cases) {
    const dev = device(() => reply)
    const t = new DeviceTransport('/dev/fake', dev, 100)
    await assert.rejects(t.transmit(Buffer.from([0x80, 1, 0, 0, 0, 10, 0, 0, 1, 0x7b])), code(c, pattern))
    await assert.rejects(t.transmit(Buffer.alloc(10)), code(c), 'later calls fail at once')
    assert.ok(dev.closed, 'the device is closed after a failure')
  }
})

test('opening a device that is missing is ENOTPM; a regular file in its place answers nothing (EPROTO)', async (t) => {
  await assert.rejects(
    openTransport('/nonexistent/tpmrm0'),
    code('ENOTPM', /cannot open TPM \/nonexistent\/tpmrm0: ENOENT/),
  )
  const file = join(tmpDir(t), 'not-a-tpm')
  writeFileSync(file, '')
  const tr = await openTransport(file, { timeoutMs: 1000 })
  await assert.rejects(TpmClient.over(tr).getRandom(4), code('EPROTO', /truncated response \(0 bytes\)/))
})
