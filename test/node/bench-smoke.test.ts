import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

test('bench/volume-ops runs in --quick mode', () => {
  const script = fileURLToPath(new URL('../../bench/volume-ops.js', import.meta.url))
  const r = spawnSync(process.execPath, [script, '--quick'], { encoding: 'utf8', timeout: 120_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /cow edit: 1 MiB into 8 MiB/)
  assert.match(r.stdout, /small files: 100 x/)
})
