import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench')

test('bench/store-ingest --quick runs and prints our figure beside the baselines', async () => {
  const { stdout } = await run(process.execPath, [join(benchDir, 'store-ingest.js'), '--quick'])
  assert.match(stdout, /ours ingest .*MB\/s/)
  assert.match(stdout, /baseline b3sum/)
  assert.match(stdout, /ours sequential read .*MB\/s/)
  assert.match(stdout, /baseline fs.createReadStream read/)
})

test('bench/store-dedup --quick runs: rewrite matches a full write', async () => {
  const { stdout } = await run(process.execPath, [join(benchDir, 'store-dedup.js'), '--quick'])
  assert.match(stdout, /ours rewrite .*new chunk bytes/)
  assert.match(stdout, /baseline full write/)
  assert.match(stdout, /same FileRef: true/)
})
