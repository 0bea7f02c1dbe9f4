/** The argument parser, remote paths and the help texts (in-process, no node needed). */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseArgs, UsageError } from '../../node/cli/args.js'
import { COMMANDS, lookupCommand } from '../../node/cli/commands.js'
import { commandHelp, mainHelp } from '../../node/cli/help.js'
import { normalizeRemote, parseRemote, safeLocalName } from '../../node/cli/remote-path.js'
import { btRaw, runInProcess } from './helpers.js'

const parse = (...argv: string[]) => parseArgs(argv, lookupCommand)

describe('parseArgs', () => {
  test('global options anywhere, flags, clusters, values, --', () => {
    const p = parse('--home', '/h', 'put', '-r', 'a', 'docs:/b', '--json', '-q')
    assert.equal(p.command, 'put')
    assert.equal(p.home, '/h')
    assert.equal(p.json, true)
    assert.equal(p.quiet, true)
    assert.equal(p.flags.get('recursive'), true)
    assert.deepEqual(p.positionals, ['a', 'docs:/b'])

    assert.deepEqual(parse('log', 'docs', '-n5').flags.get('max-count'), '5')
    assert.deepEqual(parse('log', 'docs', '--max-count=7').flags.get('max-count'), '7')
    assert.deepEqual(parse('cat', 'docs:/x', '--at', 'abcdef12').flags.get('at'), 'abcdef12')
    assert.deepEqual(parse('put', '-', 'docs:/x').positionals, ['-', 'docs:/x'])
    assert.deepEqual(parse('put', '--', '-r', 'docs:/x').positionals, ['-r', 'docs:/x'])
    assert.equal(parse('tree', 'create', 'docs').command, 'tree create')
    assert.equal(parse('--home=/x', 'status').home, '/x')
    assert.equal(parse().command, 'help')
    assert.equal(parse('--version').version, true)
    assert.equal(parse('ls', '--help').help, true)
    // --help skips the arity check: `bt put --help` needs no arguments.
    assert.equal(parse('put', '--help').command, 'put')
  })

  test('usage errors name the command and what is wrong', () => {
    const cases: [string[], RegExp, string | undefined][] = [
      [['frob'], /^unknown command 'frob'$/, undefined],
      [['tree', 'frob'], /^unknown command 'tree frob'$/, undefined],
      [['tree'], /^missing subcommand/, 'tree'],
      [['ls', '--bogus', 'docs:'], /^unknown option --bogus$/, 'ls'],
      [['ls', '-z', 'docs:'], /^unknown option -z$/, 'ls'],
      [['ls'], /^missing argument TREE:\/path$/, 'ls'],
      [['ls', 'a:', 'b:'], /^unexpected argument 'b:'$/, 'ls'],
      [['cat', 'docs:/x', '--at'], /^--at needs a value/, 'cat'],
      [['ls', '--json=1', 'docs:'], /^--json takes no value$/, 'ls'],
      [['--home'], /^--home needs a value/, undefined],
      [['cat', 'docs:/x', '--at', 'a', '--at', 'b'], /given twice/, 'cat'],
    ]
    for (const [argv, msg, cmd] of cases) {
      assert.throws(
        () => parse(...argv),
        (e: unknown) => e instanceof UsageError && msg.test(e.message) && e.command === cmd,
        argv.join(' '),
      )
    }
  })
})

describe('remote paths', () => {
  test('TREE:/path forms', () => {
    assert.deepEqual(parseRemote('docs:', 'ls'), { tree: 'docs', path: '/', trailingSlash: false })
    assert.deepEqual(parseRemote('docs:/', 'ls'), { tree: 'docs', path: '/', trailingSlash: false })
    assert.deepEqual(parseRemote('docs:a/b', 'ls'), { tree: 'docs', path: '/a/b', trailingSlash: false })
    assert.deepEqual(parseRemote('docs:/a//./b/', 'ls'), { tree: 'docs', path: '/a/b', trailingSlash: true })
    assert.deepEqual(parseRemote('docs:/a/../b', 'ls'), { tree: 'docs', path: '/b', trailingSlash: false })
    assert.deepEqual(parseRemote('docs', 'ls', { bareTree: true }), {
      tree: 'docs',
      path: '/',
      trailingSlash: false,
    })
    assert.equal(parseRemote('docs:/a:b', 'ls').path, '/a:b')
  })

  test('bad names, escapes and NUL are usage errors', () => {
    const bad = [
      'docs',
      'bad name:/x',
      ':/x',
      '.hidden:/x',
      '-x:/',
      `${'a'.repeat(65)}:/`,
      'docs:/..',
      'docs:a/../../b',
    ]
    for (const arg of bad) assert.throws(() => parseRemote(arg, 'ls'), UsageError, arg)
    assert.throws(() => normalizeRemote('/a\0b', 'docs:/a\0b', 'ls'), /NUL/)
    assert.throws(() => parseRemote('docs:/../etc', 'cat'), /escapes the root/)
  })

  test('names from a tree that are unsafe locally', () => {
    for (const n of ['', '.', '..', 'a/b', '/', 'a\0b'])
      assert.equal(safeLocalName(n), false, JSON.stringify(n))
    for (const n of ['a', '...', '.hidden', 'a b', 'ünï']) assert.equal(safeLocalName(n), true, n)
  })
})

describe('help', () => {
  test('bt --help lists every command by group', () => {
    const h = mainHelp()
    for (const c of COMMANDS) assert.match(h, new RegExp(`^  ${c.name} +\\S`, 'm'), c.name)
    for (const g of ['Node:', 'Trees:', 'History and conflicts:', 'Store:']) assert.ok(h.includes(g), g)
  })

  test('every command has usage, options and examples that parse', () => {
    for (const c of COMMANDS) {
      const h = commandHelp(c)
      assert.match(h, new RegExp(`^Usage: bt ${c.usage.replace(/[[\]|().*+?]/g, '\\$&')}$`, 'm'))
      assert.ok(c.examples.length > 0, c.name)
      for (const f of c.flags) assert.ok(h.includes(`--${f.name}`), `${c.name} --${f.name}`)
      for (const ex of c.examples) {
        assert.ok(h.includes(`  ${ex}\n`), ex)
        const argv = ex.split(' ')
        assert.equal(argv.shift(), 'bt')
        assert.equal(parse(...argv).command, c.name, ex)
      }
    }
  })

  test('bt CMD --help and bt help CMD print the same text', async () => {
    const a = await runInProcess(['put', '--help'])
    const b = await runInProcess(['help', 'put'])
    assert.equal(a.status, 0)
    assert.equal(a.stdout, b.stdout)
    assert.match(a.stdout, /^Usage: bt put \[-r\] LOCAL TREE:\/path$/m)
    assert.match((await runInProcess(['tree', '--help'])).stdout, /bt tree create NAME/)
    assert.match((await runInProcess(['help', 'tree', 'list'])).stdout, /^Usage: bt tree list$/m)
  })

  test('usage errors from the real binary: one line, exit 2', () => {
    const r = btRaw(['ls', '--bogus', 'docs:/'])
    assert.equal(r.status, 2)
    assert.equal(r.stdout, '')
    assert.equal(r.stderr, 'bt: ls: unknown option --bogus (see bt ls --help)\n')
    const e = btRaw(['cat', 'docs:/../x'])
    assert.equal(e.status, 2)
    assert.equal(e.stderr, 'bt: cat: path escapes the root of the tree: docs:/../x (see bt cat --help)\n')
  })
})
