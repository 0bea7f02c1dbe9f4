/** `bt status --watch`: plain timestamped blocks when stdout is not a terminal, Ctrl-C (SIGINT) exits 0, the data dir is not held between redraws. */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import { tmpDir } from '../helpers/tmp.js'
import { BT, bt, btEnv, ok } from './helpers.js'

test('status --watch redraws every second and exits 0 on SIGINT', { timeout: 300_000 }, async (t) => {
  const home = `${tmpDir(t, 'bt-watch-')}/home`
  ok(bt(home, ['init', '--key-protection', 'none']))
  ok(bt(home, ['tree', 'create', 'docs']))
  const p = spawn(process.execPath, [BT, '--home', home, 'status', '--watch'], { env: btEnv() })
  let out = ''
  p.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  let err = ''
  p.stderr.setEncoding('utf8').on('data', (d) => (err += d))
  const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)))
  t.after(() => p.kill('SIGKILL'))
  const deadline = Date.now() + 60_000
  while ((out.match(/node id:/g) ?? []).length < 2 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100))
  // Between redraws another command can open the data dir.
  ok(bt(home, ['tree', 'create', 'more']))
  p.kill('SIGINT')
  assert.equal(await exited, 0, err)
  const blocks = out.trim().split(/\n\n(?=\d{4}-)/)
  assert.ok(blocks.length >= 2, out)
  for (const b of blocks) {
    assert.match(b, /^\d{4}-\d\d-\d\dT[\d:.]+Z\n/, 'each block starts with its time')
    assert.match(b, /running: +no/)
    assert.match(b, /docs +admin +stopped/)
  }
  assert.equal(out.includes('\x1b['), false, 'no terminal control codes when not a terminal')
})
