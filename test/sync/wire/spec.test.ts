/**
 * docs/PROTOCOL.md is the specification the codec follows: its tables of
 * type bytes, role bytes, error codes and entry sizes must say what the code
 * does, so neither drifts unnoticed.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { MemberLog, MemoryMemberLogStore } from '../../../sync/membership.js'
import { ManualRuntime } from '../../../sync/runtime.js'
import { ERROR_CODES, ROLES, TYPE_CODES } from '../../../sync/wire/codec.js'
import { signerFromSeed } from '../../../sync/wire/ed25519.js'
import { LIMITS } from '../../../sync/wire/messages.js'

const spec = readFileSync(fileURLToPath(new URL('../../../../docs/PROTOCOL.md', import.meta.url)), 'utf8')

test('PROTOCOL.md lists every message with its type byte', () => {
  const rows = [...spec.matchAll(/^\| (\d+) \| `(\w+)` \|/gm)].map((m) => [m[2]!, Number(m[1])] as const)
  assert.deepEqual(Object.fromEntries(rows), TYPE_CODES)
})

test('PROTOCOL.md gives the role and error code bytes the codec uses', () => {
  const roleLine = /^\| `role` \| `u8`: (.*) \|$/m.exec(spec)?.[1]
  assert.equal(roleLine, ROLES.map((r, i) => `${i} ${r}`).join(', '))
  const codeLine = /^\| `code` \| `u8`: (.*) \|$/m.exec(spec)?.[1]
  assert.equal(codeLine, ERROR_CODES.map((c, i) => `${i} ${c}`).join(', '))
  assert.match(spec, new RegExp(`LIMITS.maxShard\` \\(${LIMITS.maxShard.toLocaleString('en-US')}`))
})

test('PROTOCOL.md gives the membership entry sizes', () => {
  const m = /(\d+) bytes for an add, (\d+)\s+for a remove/.exec(spec)
  assert.ok(m, 'entry sizes stated')
  const rt = new ManualRuntime(1)
  const s = signerFromSeed(new Uint8Array(32).fill(1))
  const log = MemberLog.create({
    tree: '00'.repeat(16),
    store: new MemoryMemberLogStore(),
    clock: rt.clock,
    random: rt.random,
    signer: s,
  })
  const add = log.add('11'.repeat(32), 'writer')!
  const remove = log.remove('11'.repeat(32))
  assert.deepEqual([add.length, remove.length], [Number(m[1]), Number(m[2])])
  assert.ok(add.length <= LIMITS.entry)
})
