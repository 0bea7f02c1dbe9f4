/**
 * Crash safety of the Volume: a writer killed with SIGKILL mid-stream leaves
 * a volume that opens, verifies clean, holds every acknowledged file intact
 * (and no torn file), and has no leftover staging files.
 */
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { tmpDir } from '../helpers/tmp.js'
import { openCrashVolume, pattern, readAll, runUntilKilled } from './helpers.js'

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.js', import.meta.url))

/** What the writer puts in f<i> (mirrors fixtures/crash-writer.ts). */
function expected(i: number): Uint8Array {
  const size = 1 + ((i * 7919) % 150_000)
  if (i % 3 !== 0) return pattern(size, i + 1)
  const out = new Uint8Array(Math.max(size, (size >> 1) + 100))
  out.set(pattern(size, i + 1))
  out.set(pattern(100, i + 1000), size >> 1)
  return out
}

test('SIGKILL during a write storm loses nothing acknowledged', async (t) => {
  const dir = join(tmpDir(t), 'vol')
  const acked = await runUntilKilled(t, WRITER, dir, (n, child) => {
    if (n >= 25) child.kill('SIGKILL')
  })
  assert.ok(acked >= 25)

  const v = await openCrashVolume(dir, 'checker')
  t.after(() => v.close())
  assert.deepEqual(readdirSync(join(dir, 'staging')), [], 'no staging files survive')
  const report = await v.verify()
  assert.deepEqual([report.corrupt, report.missing], [[], []])
  for (let i = 0; i <= acked; i++)
    assert.deepEqual(await readAll(v, `/d/f${i}`), expected(i), `f${i} acknowledged`)
  // Files beyond the last ack are either absent or complete, never torn.
  const names = (await v.readdir('/d', undefined, 10_000)).entries.map((e) => e.name)
  for (const n of names.filter((x) => x.startsWith('f'))) {
    assert.deepEqual(await readAll(v, `/d/${n}`), expected(Number(n.slice(1))), `${n} complete`)
  }
  const pending = await v.lookup('/pending').catch(() => undefined)
  assert.equal(pending?.size ?? 0, 0, 'writes never committed are not there')
  await v.gc()
  assert.deepEqual((await v.verify()).missing, [])
})
