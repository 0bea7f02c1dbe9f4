import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const BT = fileURLToPath(new URL('../../node/cli/main.js', import.meta.url))
const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

function bt(...args: string[]) {
  return spawnSync(process.execPath, [BT, ...args], {
    encoding: 'utf8',
    env: { ...process.env, BT_NETWORK: 'loopback' },
  })
}

test('bt --version prints the package version', { timeout: 300_000 }, () => {
  const r = bt('--version')
  assert.equal(r.status, 0)
  assert.equal(r.stdout.trim(), `bt ${pkg.version}`)
})

test('bt --help lists usage and exits 0', { timeout: 300_000 }, () => {
  const r = bt('--help')
  assert.equal(r.status, 0)
  assert.match(r.stdout, /^Usage: bt <command>/m)
})

test('an unknown command is a usage error: one line on stderr, exit 2', { timeout: 300_000 }, () => {
  const r = bt('frobnicate')
  assert.equal(r.status, 2)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr.trim().split('\n').length, 1)
  assert.match(r.stderr, /^bt: unknown command 'frobnicate'/)
})
