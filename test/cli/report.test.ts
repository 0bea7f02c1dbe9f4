/** How failures read: FsError, NodeError, local errno, internal errors (stack only with BT_DEBUG=1). */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeApi } from '../../node/api-types.js'
import { FsError } from '../../node/errors.js'
import { NodeError } from '../../node/node-error.js'
import { runInProcess } from './helpers.js'

/** A node whose every call fails with `err`. */
function failing(err: unknown): () => Promise<NodeApi> {
  const fail = async () => {
    throw err
  }
  return async () =>
    ({ stat: fail, ls: fail, treeList: fail, df: fail, close: async () => {} }) as unknown as NodeApi
}

test('one line per failure kind, and the exit status', async () => {
  const cases: [unknown, string[], string][] = [
    [new FsError('ENOENT', '/x'), ['ls', 'docs:/x'], 'bt: ls docs:/x: No such file or directory\n'],
    [
      new FsError('EIO', '/a/b', 'chunk 12ab is corrupt'),
      ['stat', 'docs:/a/b'],
      'bt: stat docs:/a/b: Input/output error (chunk 12ab is corrupt)\n',
    ],
    // An FsError without a path is shown against the command's own path.
    [new FsError('ENOSPC'), ['ls', 'docs:/d'], 'bt: ls docs:/d: No space left on device\n'],
    [new NodeError('ENOTREE', 'nope', 'no such tree'), ['ls', 'nope:/'], 'bt: ls nope: no such tree\n'],
    [
      new NodeError('EDAEMON', undefined, 'the node stopped answering'),
      ['df'],
      'bt: df: the node stopped answering\n',
    ],
    [
      Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES', path: '/srv/x' }),
      ['df'],
      'bt: df /srv/x: Permission denied\n',
    ],
    [
      new TypeError('cannot read properties of undefined\n    at somewhere'),
      ['tree', 'list'],
      'bt: tree list: internal error: cannot read properties of undefined\n',
    ],
  ]
  for (const [err, argv, line] of cases) {
    const r = await runInProcess(['--home', '/nonexistent-bt-home', ...argv], failing(err))
    assert.equal(r.stderr, line, argv.join(' '))
    assert.equal(r.status, 1)
    assert.equal(r.stdout, '')
  }
})

test('BT_DEBUG=1 adds the stack of an internal error', async () => {
  const r = await runInProcess(['--home', '/nonexistent-bt-home', 'df'], failing(new Error('boom')), {
    env: { BT_DEBUG: '1' },
  })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^bt: df: internal error: boom\nError: boom\n\s+at /)
})
