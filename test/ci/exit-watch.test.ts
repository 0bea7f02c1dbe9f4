/**
 * The exit watch every test process loads (test/helpers/exit-watch.ts): a
 * test file whose tests pass but leave a handle behind fails with a list of
 * what is alive, instead of keeping the run waiting forever; a clean file is
 * not affected.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { tmpDir } from '../helpers/tmp.js'

const OWNER = fileURLToPath(new URL('../helpers/owner.js', import.meta.url))

function runFile(file: string): Promise<{ code: number; out: string }> {
  // A runner of its own: NODE_TEST_CONTEXT (set for this file's process) would stop it running files.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--test', '--import', OWNER, file],
      { env: { ...env, BT_TEST_EXIT_GRACE_MS: '1000' }, timeout: 50_000, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    )
  })
}

test('a test file that leaves an interval and a child running fails after the grace, naming them', {
  timeout: 60_000,
}, async (t) => {
  const dir = tmpDir(t, 'bt-exit-watch-')
  const file = join(dir, 'leaks.test.mjs')
  await writeFile(
    file,
    `import { test } from 'node:test'
import { spawn } from 'node:child_process'
test('passes but leaks', () => {
  setInterval(() => {}, 1 << 30)
  spawn('sleep', ['30'], { stdio: 'ignore' })
})
`,
  )
  const r = await runFile(file)
  assert.notEqual(r.code, 0, r.out)
  assert.match(r.out, /exit-watch: test process \d+ .* still alive 1 s after its tests finished/)
  assert.match(r.out, /Timeout/)
  assert.match(r.out, /child \d+: sleep 30/)
  assert.match(r.out, /# pass 1/)
})

test('a test file that cleans up exits normally', { timeout: 60_000 }, async (t) => {
  const dir = tmpDir(t, 'bt-exit-watch-')
  const file = join(dir, 'clean.test.mjs')
  await writeFile(
    file,
    `import { test } from 'node:test'
test('waits a little', async () => { await new Promise((r) => setTimeout(r, 50)) })
`,
  )
  const r = await runFile(file)
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /# pass 1/)
  assert.doesNotMatch(r.out, /exit-watch/)
})
