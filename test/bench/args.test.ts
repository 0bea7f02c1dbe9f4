import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const bench = (name: string) => fileURLToPath(new URL(`../../bench/${name}.js`, import.meta.url))
const run = (name: string, ...args: string[]) =>
  spawnSync(process.execPath, [bench(name), ...args], { encoding: 'utf8' })

test('an unknown benchmark option is a usage error, not a full-size run', () => {
  const r = run('store-ingest', '--sise-mib', '4')
  assert.equal(r.status, 2)
  assert.match(r.stderr, /^store-ingest: Unknown option '--sise-mib'/)
  assert.match(r.stderr, /Usage: node dist\/bench\/store-ingest\.js/)
})

test('a benchmark size must be a positive number', () => {
  const r = run('sync-tree', '--sizes', '100,abc')
  assert.equal(r.status, 2)
  assert.match(r.stderr, /--sizes needs a positive number, got '100,abc'/)
})

test('--help prints the options and exits 0', () => {
  const r = run('volume-ops', '--help')
  assert.equal(r.status, 0)
  assert.match(r.stdout, /--files\s+small files to create \(default 3000; quick 100\)/)
})
