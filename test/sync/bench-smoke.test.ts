import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

test('bench/sync-tree runs with --quick', () => {
  const script = fileURLToPath(new URL('../../bench/sync-tree.js', import.meta.url))
  const out = execFileSync(process.execPath, [script, '--quick'], { encoding: 'utf8', timeout: 120_000 })
  assert.match(out, /sync to empty replica: [\d.]+ s/)
  assert.match(out, /local commit [\d.]+ ms, remote apply incl\. view [\d.]+ ms/)
  assert.match(out, /baseline: raw SQLite insert/)
})
