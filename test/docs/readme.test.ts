/**
 * Runs every ```js example of README.md from the repository root and checks
 * that each `console.log(...) // expected` line prints what its comment says.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const readme = readFileSync(`${ROOT}README.md`, 'utf8')
const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)

test('README has runnable examples', () => {
  assert.ok(blocks.length >= 3, `found ${blocks.length} js blocks`)
})

blocks.forEach((code, i) => {
  const title = code.split('\n').find((l) => l.includes("from './dist/"))
  test(`README example ${i + 1} (${title?.replace(/.*from /, '')})`, () => {
    const expected = code
      .split('\n')
      .filter((l) => /^\s*console\.log\(.*\/\/ /.test(l))
      .map((l) => l.replace(/^.*\/\/ /, '').trim())
    const r = spawnSync(process.execPath, ['--input-type=module'], {
      cwd: ROOT,
      input: code,
      encoding: 'utf8',
      env: { ...process.env, BT_NETWORK: 'loopback' },
      timeout: 60_000,
    })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim()),
      expected,
    )
  })
})
