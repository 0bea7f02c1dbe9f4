/**
 * `ls` and `get -r` read every page of a large directory, and `ls --json`
 * streams one valid JSON array across pages (in-process, against a node that
 * serves a directory of 1500 entries in pages).
 */
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { NodeApi } from '../../node/api-types.js'
import { FsError } from '../../node/errors.js'
import type { Attr } from '../../node/volume-types.js'
import { tmpDir } from '../helpers/tmp.js'
import { runInProcess } from './helpers.js'

const N = 1500

function attr(kind: Attr['kind'], ino: number): Attr {
  return {
    ino,
    id: `i${ino}`,
    kind,
    mode: kind === 'dir' ? 0o040755 : 0o100644,
    size: kind === 'dir' ? 0 : 1,
    blocks: 1,
    nlink: 1,
    uid: 0,
    gid: 0,
    atime: 0,
    mtime: 1_700_000_000_000,
    ctime: 1_700_000_000_000,
  }
}

const names = Array.from({ length: N }, (_, i) => `f${String(i).padStart(5, '0')}`)

/** A node with one big directory `/big`, listed in pages of at most `limit` (cursor = last name). */
function pagedNode(calls: { ls: number }): NodeApi {
  const fake: Partial<NodeApi> = {
    async stat(_t, path) {
      if (path === '/big') return attr('dir', 1)
      const i = names.indexOf(path.slice('/big/'.length))
      if (i < 0) throw new FsError('ENOENT', path)
      return attr('file', i + 2)
    },
    async ls(_t, _path, cursor, limit = 100) {
      calls.ls++
      const start = cursor === undefined ? 0 : names.indexOf(cursor) + 1
      const page = names.slice(start, start + Math.min(limit, 700))
      const entries = page.map((name) => ({ name, attr: attr('file', names.indexOf(name) + 2) }))
      const more = start + page.length < names.length
      return more ? { entries, cursor: page[page.length - 1]! } : { entries }
    },
    readFile() {
      return (async function* () {
        yield new Uint8Array([120])
      })()
    },
    async close() {},
  }
  return fake as NodeApi
}

test('ls prints every page; --json is one array across pages', async (t) => {
  const home = join(tmpDir(t), 'h')
  const calls = { ls: 0 }
  const human = await runInProcess(['--home', home, 'ls', 'docs:/big'], async () => pagedNode(calls))
  assert.equal(human.status, 0, human.stderr)
  assert.deepEqual(human.stdout.trim().split('\n'), names)
  assert.ok(calls.ls >= 3, `${calls.ls} pages`)
  const json = await runInProcess(['--home', home, 'ls', '--json', 'docs:/big'], async () => pagedNode(calls))
  const parsed = JSON.parse(json.stdout) as { name: string; kind: string; mtime: number }[]
  assert.deepEqual(
    parsed.map((e) => e.name),
    names,
  )
  assert.equal(parsed[0]!.kind, 'file')
  assert.equal(parsed[0]!.mtime, 1_700_000_000_000)
  const long = await runInProcess(['--home', home, 'ls', '-l', 'docs:/big'], async () => pagedNode(calls))
  assert.equal(long.stdout.trim().split('\n').length, N)
  assert.match(long.stdout.split('\n')[0]!, /^-rw-r--r-- +1 B +2023-11-14T22:13:20\.000Z +f00000$/)
})

test('get -r fetches every page', async (t) => {
  const root = tmpDir(t)
  const r = await runInProcess(
    ['--home', join(root, 'h'), 'get', '-r', 'docs:/big', join(root, 'out')],
    async () => pagedNode({ ls: 0 }),
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(readdirSync(join(root, 'out')).length, N)
})
