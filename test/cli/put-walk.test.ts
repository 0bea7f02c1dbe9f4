/**
 * `put -r` with the disk changing under it (injected through its LocalFs):
 * a file deleted between the walk and its read, one that grows while it is
 * read, one replaced by a FIFO. Each is reported, the rest is stored, and a
 * changed file keeps its previous content in the tree.
 */
import assert from 'node:assert/strict'
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { parseArgs } from '../../node/cli/args.js'
import { lookupCommand } from '../../node/cli/commands.js'
import { Ctx } from '../../node/cli/context.js'
import { type LocalFs, nodeFs } from '../../node/cli/local-fs.js'
import { emptySummary, putTree } from '../../node/cli/put.js'
import { initNode } from '../../node/identity.js'
import { openLocalNode } from '../../node/local-node.js'
import { tmpDir } from '../helpers/tmp.js'

async function text(it: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = []
  for await (const c of it) parts.push(Buffer.from(c))
  return Buffer.concat(parts).toString()
}

test('put -r reports files that vanish or change during the walk and stores the rest', {
  timeout: 300_000,
}, async (t) => {
  const root = tmpDir(t)
  const home = join(root, 'home')
  await initNode({ home, protection: 'none' })
  const node = await openLocalNode({ home })
  t.after(() => node.close())
  await node.treeCreate('docs')
  await node.mkdir('docs', '/src')
  await node.writeFile(
    'docs',
    '/src/grows.txt',
    (async function* () {
      yield new TextEncoder().encode('previous')
    })(),
  )

  const src = join(root, 'src')
  mkdirSync(join(src, 'sub'), { recursive: true })
  for (const n of ['a.txt', 'gone.txt', 'grows.txt', 'sub/z.txt', 'sub/gone-dir-entry.txt'])
    writeFileSync(join(src, n), `content of ${n}`)

  const fs: LocalFs = {
    ...nodeFs,
    async lstat(p) {
      // Deleted between readdir and lstat.
      if (p.endsWith('gone-dir-entry.txt')) rmSync(p)
      return nodeFs.lstat(p)
    },
    async open(p) {
      // Deleted between the walk and the read.
      if (p.endsWith('gone.txt')) rmSync(p)
      const f = await nodeFs.open(p)
      if (!p.endsWith('grows.txt')) return f
      // Grows (once) while it is being read.
      let grown = false
      return {
        stat: () => f.stat(),
        close: () => f.close(),
        async read(buf, off, len, pos) {
          const r = await f.read(buf, off, len, pos)
          if (!grown) appendFileSync(p, ' and more')
          grown = true
          return r
        },
      }
    },
  }

  const stderr = new PassThrough()
  let err = ''
  stderr.setEncoding('utf8').on('data', (d) => (err += d))
  const io = {
    stdout: new PassThrough(),
    stderr,
    stdin: new PassThrough(),
    stderrTTY: false,
    columns: 80,
    env: {},
    now: () => 0,
  }
  const ctx = new Ctx(
    'put',
    parseArgs(['put', '-r', src, 'docs:/'], lookupCommand),
    home,
    io,
    async () => node,
  )
  const summary = emptySummary()
  await putTree(ctx, node, { local: src, tree: 'docs', dest: '/src', summary, fs })
  await new Promise((r) => setImmediate(r))

  assert.deepEqual(
    summary.skipped.map((s) => [s.path.slice(src.length + 1), s.reason, s.error]),
    [
      ['sub/gone-dir-entry.txt', 'vanished during the walk', true],
      ['gone.txt', 'vanished during the walk', true],
      ['grows.txt', 'changed while being read; not stored', true],
    ],
  )
  assert.equal(
    err,
    [
      `bt: put ${join(src, 'sub/gone-dir-entry.txt')}: skipped: vanished during the walk`,
      `bt: put ${join(src, 'gone.txt')}: skipped: vanished during the walk`,
      `bt: put ${join(src, 'grows.txt')}: skipped: changed while being read; not stored`,
      '',
    ].join('\n'),
  )
  assert.equal(summary.files, 2)
  assert.equal(summary.dirs, 2)
  const names = (await node.ls('docs', '/src')).entries.map((e) => e.name)
  assert.deepEqual(names, ['a.txt', 'grows.txt', 'sub'])
  assert.equal(await text(node.readFile('docs', '/src/a.txt')), 'content of a.txt')
  assert.equal(await text(node.readFile('docs', '/src/sub/z.txt')), 'content of sub/z.txt')
  // The half-read file did not replace what the tree had.
  assert.equal(await text(node.readFile('docs', '/src/grows.txt')), 'previous')
  assert.equal((await node.verify()).ok, true)
})
