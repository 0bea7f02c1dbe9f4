/** Arguments of the sharing commands and `bt up`'s replication flags: usage errors (exit 2) before any node is touched. */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { parseArgs } from '../../node/cli/args.js'
import { parseDuration } from '../../node/cli/cmd-sync.js'
import { lookupCommand } from '../../node/cli/commands.js'
import { NodeError } from '../../node/node-error.js'
import { parseSize, readConfigFile } from '../../node/replication-config.js'
import { tmpDir } from '../helpers/tmp.js'
import { runInProcess } from './helpers.js'

/** A node that must never be reached: usage errors come first. */
const unreachable = async () => {
  throw new Error('the node was opened')
}

describe('sharing commands: usage errors', () => {
  const cases: [string[], RegExp][] = [
    [['invite'], /missing argument TREE/],
    [['invite', 'docs', '--role', 'boss'], /--role is one of reader, writer, admin, server, not 'boss'/],
    [['invite', 'docs', '--expires', '3 days'], /--expires takes a duration like 30m/],
    [['invite', 'docs', '--expires', '0d'], /--expires takes a duration/],
    [['invite', '.bad'], /bad tree name/],
    [['join'], /missing argument TICKET/],
    [['join', 'bt1abc', '--name', '-x'], /bad tree name/],
    [['join', 'bt1abc', '--timeout', 'soon'], /--timeout takes a duration/],
    [['tree', 'members'], /missing argument TREE/],
    [['tree', 'remove-member', 'docs'], /missing argument NODE/],
    [['tree', 'remove-member', 'docs', 'xyz'], /NODE is a node id/],
    [['tree', 'remove-member', 'docs', 'abc'], /NODE is a node id/],
    [['pin', 'docs:/../x'], /escapes the root/],
    [['unpin'], /missing argument TREE:\/path/],
    [['peers', 'extra'], /unexpected argument 'extra'/],
    [['up', '--bootstrap', 'localhost'], /--bootstrap takes HOST:PORT, not 'localhost'/],
    [['up', '--bootstrap', '127.0.0.1:99999'], /--bootstrap takes HOST:PORT/],
    [['up', '--cache-size', 'lots'], /--cache-size: a size is a number/],
    [['up', '--transport', 'carrier-pigeon'], /--transport takes iroh, hyperswarm/],
    [['up', '--port', '70000'], /--port takes 0..65535/],
    [['up', '--mdns', 'maybe'], /--mdns takes on or off, not 'maybe'/],
    [['status', '--watch', '--json'], /--watch draws for people/],
  ]
  for (const [argv, msg] of cases)
    test(argv.join(' '), async () => {
      const r = await runInProcess(['--home', '/nonexistent-bt-home', ...argv], unreachable)
      assert.equal(r.status, 2, `${argv.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, msg)
      assert.equal(r.stdout, '')
    })
})

describe('parsing helpers', () => {
  test('--bootstrap repeats; other valued flags may not', () => {
    const p = parseArgs(['up', '--bootstrap', 'a:1', '--bootstrap=b:2'], lookupCommand)
    assert.equal(p.flags.get('bootstrap'), 'a:1\0b:2')
    assert.throws(() => parseArgs(['up', '--port', '1', '--port', '2'], lookupCommand), /given twice/)
  })

  test('durations and sizes', () => {
    assert.equal(parseDuration('90s', 'x'), 90_000)
    assert.equal(parseDuration('12h', 'x'), 12 * 3_600_000)
    assert.equal(parseDuration('2w', 'x'), 14 * 86_400_000)
    const fail = (m: string) => new Error(m)
    assert.equal(parseSize('10G', fail), 10 * 2 ** 30)
    assert.equal(parseSize('512MiB', fail), 512 * 2 ** 20)
    assert.equal(parseSize('1.5k', fail), 1536)
    assert.equal(parseSize('4096', fail), 4096)
    assert.throws(() => parseSize('-1G', fail))
  })

  test('config.json: settings are checked, unknown ones refused', (t) => {
    const home = tmpDir(t)
    assert.deepEqual(readConfigFile(home), {})
    const file = join(home, 'config.json')
    writeFileSync(
      file,
      JSON.stringify({
        bootstrap: ['127.0.0.1:4000'],
        cacheSize: '1G',
        transports: ['iroh'],
        irohPort: 0,
        mdns: false,
      }),
    )
    assert.deepEqual(readConfigFile(home), {
      bootstrap: ['127.0.0.1:4000'],
      cacheSize: 2 ** 30,
      transports: ['iroh'],
      irohPort: 0,
      mdns: false,
    })
    const bad = (v: unknown, msg: RegExp) => {
      writeFileSync(file, typeof v === 'string' ? v : JSON.stringify(v))
      assert.throws(
        () => readConfigFile(home),
        (e: unknown) => e instanceof NodeError && e.code === 'ECORRUPT' && msg.test(e.message),
      )
    }
    bad('{not json', /not valid JSON/)
    bad([1], /JSON object/)
    bad({ bootstrap: 'x:1' }, /bootstrap/)
    bad({ bootstrap: ['nope'] }, /HOST:PORT/)
    bad({ transports: [] }, /transports/)
    bad({ irohPort: 70000 }, /irohPort/)
    bad({ mdns: 'yes' }, /mdns: true or false/)
    bad({ colour: 'blue' }, /unknown setting 'colour'/)
  })
})
