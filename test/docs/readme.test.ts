/**
 * Runs the README's examples:
 * - every ```js block from the repository root, checking that each
 *   `console.log(...) // expected` line prints what its comment says;
 * - every ```sh block with bash (`set -euo pipefail`), `BT_HOME` set to a
 *   fresh directory, `bt` on PATH (a shim to dist/node/cli/main.js) and
 *   `npx bt` routed to it; a line ending in `# expected: TEXT` must print
 *   exactly TEXT. `npm install` / `npm test` lines are skipped (the suite runs
 *   inside them).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BT = fileURLToPath(new URL('../../node/cli/main.js', import.meta.url))
const readme = readFileSync(`${ROOT}README.md`, 'utf8')
const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)
const shBlocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)

test('README has runnable examples', () => {
  assert.ok(blocks.length >= 3, `found ${blocks.length} js blocks`)
  assert.ok(shBlocks.length >= 5, `found ${shBlocks.length} sh blocks`)
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

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** The block as a bash script: `# expected:` lines become checks. */
export function shScript(code: string): string {
  const lines = code.split('\n').map((line, n) => {
    const m = /^(.*\S)\s+# expected: (.*)$/.exec(line)
    if (!m) return line
    const [, cmd, want] = m
    return (
      `__out=$(${cmd}); if [ "$__out" != ${sq(want!.trim())} ]; then ` +
      `printf 'README line %s: expected %s, got %s\\n' ${n + 1} ${sq(want!.trim())} "$__out" >&2; exit 1; fi`
    )
  })
  const prelude = [
    'set -euo pipefail',
    // Say which README line failed (the prelude is 4 lines long).
    `trap 'echo "README block line $((LINENO - 4)) failed: $BASH_COMMAND" >&2' ERR`,
    'npm() { case "$1" in install|ci|test) echo "(README test: skipped npm $*)" ;; *) command npm "$@" ;; esac; }',
    'npx() { if [ "$1" = bt ]; then shift; bt "$@"; else command npx "$@"; fi; }',
  ]
  return `${prelude.join('\n')}\n${lines.join('\n')}\n`
}

shBlocks.forEach((code, i) => {
  const first = code.split('\n').find((l) => l.trim() && !l.startsWith('#')) ?? ''
  test(`README shell example ${i + 1} (${first.slice(0, 50)})`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'bt-readme-'))
    const bin = join(dir, 'bin')
    const work = join(dir, 'work')
    const home = join(dir, 'home')
    mkdirSync(bin)
    mkdirSync(work)
    writeFileSync(join(bin, 'bt'), `#!/bin/sh\nexec ${sq(process.execPath)} ${sq(BT)} "$@"\n`)
    chmodSync(join(bin, 'bt'), 0o755)
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      BT_NETWORK: 'loopback',
      BT_HOME: home,
      PATH: `${bin}:${process.env.PATH}`,
    }
    delete env.BT_DEBUG
    t.after(() => {
      // A block that stops early may leave its node running.
      spawnSync(process.execPath, [BT, 'down'], { env, timeout: 30_000 })
      rmSync(dir, { recursive: true, force: true })
    })
    const r = spawnSync('bash', ['-c', shScript(code)], {
      cwd: work,
      env,
      encoding: 'utf8',
      timeout: 180_000,
    })
    assert.equal(r.status, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
  })
})

test('npx bt works from the clone', () => {
  const r = spawnSync('npx', ['bt', '--version'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, BT_NETWORK: 'loopback' },
    timeout: 60_000,
  })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^bt \d+\.\d+\.\d+/)
})
