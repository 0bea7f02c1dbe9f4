/**
 * Every command end to end, human and --json, through real `bt` children:
 * once with no daemon and once through `bt up --detach`, with the same
 * expected outputs (and a final check that both transcripts are equal).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { bt, ok } from './helpers.js'
import { daemonAvailable, type Mode, setupHome, teardownHome } from './modes.js'

const transcripts: Record<Mode, string[]> = { local: [], daemon: [] }
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

for (const mode of ['local', 'daemon'] as Mode[]) {
  describe(`bt commands (${mode === 'local' ? 'no daemon' : 'through the daemon'})`, {
    skip: mode === 'daemon' && !daemonAvailable() ? 'no node/daemon in this build' : false,
  }, () => {
    let root: string
    let home: string
    let work: string
    const run = (args: string[], input?: string) => bt(home, args, input === undefined ? {} : { input })
    /** Record what users see (for the local/daemon comparison). */
    const seen = (label: string, text: string) => transcripts[mode].push(`${label}: ${text}`)

    before(() => {
      root = mkdtempSync(join(tmpdir(), 'bt-cli-'))
      home = join(root, 'home')
      work = join(root, 'work')
      mkdirSync(work)
      setupHome(home, mode)
    })
    after(() => {
      teardownHome(home, mode)
      rmSync(root, { recursive: true, force: true })
    })

    test('status and tree list, human and --json', () => {
      const s = JSON.parse(ok(run(['status', '--json'])).stdout)
      assert.match(s.nodeId, /^[0-9a-f]{64}$/)
      assert.equal(s.home, home)
      assert.equal(s.running, mode === 'daemon')
      assert.deepEqual(
        s.trees.map((t: { name: string }) => t.name),
        ['docs'],
      )
      const human = ok(run(['status'])).stdout
      assert.match(human, new RegExp(`^node id: +${s.nodeId}$`, 'm'))
      assert.match(human, mode === 'daemon' ? /^running: +yes \(pid \d+/m : /^running: +no$/m)
      assert.match(human, /^trees: +docs$/m)

      const list = JSON.parse(ok(run(['tree', 'list', '--json'])).stdout)
      assert.equal(list.length, 1)
      assert.equal(list[0].name, 'docs')
      assert.match(list[0].id, /^[0-9a-f]{32}$/)
      assert.equal(list[0].role, 'admin')
      assert.equal(typeof list[0].created, 'number')
      const table = ok(run(['tree', 'list'])).stdout.split('\n')
      assert.match(table[0]!, /^NAME +ID +ROLE +CREATED$/)
      assert.match(table[1]!, new RegExp(`^docs +${list[0].id} +admin +\\d{4}-`))

      const dup = run(['tree', 'create', 'docs'])
      assert.equal(dup.status, 1)
      assert.equal(dup.stderr, 'bt: tree create docs: a tree of that name already exists\n')
      seen('tree create dup', dup.stderr)
    })

    test('put, cat, get of single files (scp semantics, stdin/stdout)', () => {
      const f = join(work, 'hello.txt')
      writeFileSync(f, 'hello, blocktree\n')
      chmodSync(f, 0o640)
      ok(run(['put', f, 'docs:/']))
      assert.equal(ok(run(['cat', 'docs:/hello.txt'])).stdout, 'hello, blocktree\n')
      ok(run(['put', f, 'docs:renamed.txt']))
      assert.equal(ok(run(['cat', 'docs:/renamed.txt'])).stdout, 'hello, blocktree\n')
      const put = JSON.parse(ok(run(['put', '--json', '-', 'docs:/stdin.txt'], 'from stdin')).stdout)
      assert.deepEqual(put, { files: 1, dirs: 0, symlinks: 0, bytes: 10, skipped: [] })
      assert.equal(ok(run(['get', 'docs:/stdin.txt', '-'])).stdout, 'from stdin')

      const out = join(work, 'out')
      mkdirSync(out)
      ok(run(['get', 'docs:/hello.txt', out]))
      const got = join(out, 'hello.txt')
      assert.equal(readFileSync(got, 'utf8'), 'hello, blocktree\n')
      assert.equal(statSync(got).mode & 0o777, 0o640)
      assert.ok(Math.abs(statSync(got).mtimeMs - statSync(f).mtimeMs) < 0.01)
      ok(run(['get', 'docs:/stdin.txt', join(out, 'named.txt')]))
      assert.equal(readFileSync(join(out, 'named.txt'), 'utf8'), 'from stdin')

      const missing = run(['cat', 'docs:/x'])
      assert.equal(missing.status, 1)
      assert.equal(missing.stderr, 'bt: cat docs:/x: No such file or directory\n')
      seen('cat missing', missing.stderr)
      const dir = run(['put', work, 'docs:/'])
      assert.equal(dir.status, 1)
      assert.equal(dir.stderr, `bt: put ${work}: Is a directory (use -r)\n`)
    })

    test('put -r / get -r round trip: modes, mtimes, symlinks; special files skipped', () => {
      const src = join(work, 'src')
      mkdirSync(join(src, 'sub', 'deeper'), { recursive: true })
      writeFileSync(join(src, 'a.txt'), 'alpha')
      writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho hi\n')
      chmodSync(join(src, 'run.sh'), 0o755)
      writeFileSync(join(src, 'sub', 'b.bin'), Buffer.alloc(70_000, 7))
      writeFileSync(join(src, 'sub', 'deeper', 'c.txt'), '')
      chmodSync(join(src, 'sub', 'deeper', 'c.txt'), 0o600)
      symlinkSync('sub/b.bin', join(src, 'link'))
      symlinkSync('/nonexistent/target', join(src, 'dangling'))
      const when = new Date('2021-03-04T05:06:07.000Z')
      utimesSync(join(src, 'a.txt'), when, when)
      const fifo = join(src, 'pipe')
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0)

      const put = run(['put', '-r', '--json', src, 'docs:/'])
      assert.equal(put.status, 0, put.stderr)
      assert.equal(put.stderr, `bt: put ${fifo}: skipped: not a regular file, directory or symlink\n`)
      const sum = JSON.parse(put.stdout)
      assert.deepEqual(
        { files: sum.files, dirs: sum.dirs, symlinks: sum.symlinks, bytes: sum.bytes },
        { files: 4, dirs: 3, symlinks: 2, bytes: 5 + 18 + 70_000 },
      )
      assert.deepEqual(sum.skipped, [
        { path: fifo, reason: 'not a regular file, directory or symlink', error: false },
      ])

      const ls = ok(run(['ls', 'docs:/src'])).stdout
      assert.equal(ls, 'a.txt\ndangling\nlink\nrun.sh\nsub\n')
      seen('ls src', ls)
      const long = ok(run(['ls', '-l', 'docs:/src'])).stdout.split('\n')
      assert.match(long[0]!, /^-rw-r--r-- +5 B +2021-03-04T05:06:07\.000Z +a\.txt$/)
      assert.match(long[2]!, /^lrwxrwxrwx +\S+ B +\S+ +link -> sub\/b\.bin$/)
      assert.match(long[3]!, /^-rwxr-xr-x /)
      assert.match(long[4]!, /^drwxr-xr-x +- +\S+ +sub$/)
      const json = JSON.parse(ok(run(['ls', '--json', 'docs:/src/sub'])).stdout)
      assert.deepEqual(
        json.map((e: { name: string; kind: string; size: number }) => [e.name, e.kind, e.size]),
        [
          ['b.bin', 'file', 70_000],
          ['deeper', 'dir', 0],
        ],
      )
      for (const e of json) {
        assert.equal(typeof e.mtime, 'number')
        assert.equal(typeof e.ino, 'number')
      }

      // Into an existing directory: lands inside under its own name.
      const restore = join(work, 'restore')
      mkdirSync(restore)
      const get = run(['get', '-r', 'docs:/src', restore])
      assert.equal(get.status, 0, get.stderr)
      const back = join(restore, 'src')
      assert.equal(readFileSync(join(back, 'a.txt'), 'utf8'), 'alpha')
      assert.equal(statSync(join(back, 'a.txt')).mtime.toISOString(), when.toISOString())
      assert.equal(statSync(join(back, 'run.sh')).mode & 0o777, 0o755)
      assert.equal(statSync(join(back, 'sub', 'deeper', 'c.txt')).mode & 0o777, 0o600)
      assert.deepEqual(readFileSync(join(back, 'sub', 'b.bin')), Buffer.alloc(70_000, 7))
      assert.equal(readlinkSync(join(back, 'link')), 'sub/b.bin')
      assert.equal(readlinkSync(join(back, 'dangling')), '/nonexistent/target')
      assert.ok(lstatSync(join(back, 'link')).isSymbolicLink())
      // Not existing: becomes the copy itself.
      const fresh = join(work, 'fresh')
      ok(run(['get', '-r', 'docs:/src/sub', fresh]))
      assert.deepEqual(readFileSync(join(fresh, 'b.bin')), Buffer.alloc(70_000, 7))
    })

    test('mkdir, stat, mv, rm and their POSIX error lines', () => {
      ok(run(['mkdir', 'docs:/m']))
      ok(run(['mkdir', '-p', 'docs:/m/a/b']))
      ok(run(['mkdir', '-p', 'docs:/m/a/b']))
      const errs: [string[], string][] = [
        [['mkdir', 'docs:/m'], 'bt: mkdir docs:/m: File exists\n'],
        [['mkdir', 'docs:/no/such'], 'bt: mkdir docs:/no: No such file or directory\n'],
        [['mkdir', 'docs:/hello.txt/x'], 'bt: mkdir docs:/hello.txt/x: Not a directory\n'],
        [['cat', 'docs:/m'], 'bt: cat docs:/m: Is a directory\n'],
        [['rm', 'docs:/m'], 'bt: rm docs:/m: Is a directory (use -r to remove a directory)\n'],
        [['ls', 'nosuch:/'], 'bt: ls nosuch: no such tree (see bt tree list)\n'],
      ]
      for (const [args, line] of errs) {
        const r = run(args)
        assert.equal(r.status, 1, args.join(' '))
        assert.equal(r.stderr, line)
        assert.equal(r.stdout, '')
        seen(args.join(' '), r.stderr)
      }
      const st = JSON.parse(ok(run(['stat', '--json', 'docs:/m/a'])).stdout)
      assert.equal(st.tree, 'docs')
      assert.equal(st.path, '/m/a')
      assert.equal(st.kind, 'dir')
      assert.equal(st.mode & 0o170000, 0o040000)
      const human = ok(run(['stat', 'docs:/hello.txt'])).stdout
      assert.match(human, /^path: +docs:\/hello\.txt$/m)
      assert.match(human, /^type: +regular file$/m)
      assert.match(human, /^size: +17 \(17 B\)$/m)
      assert.match(human, /^mode: +0640 \(-rw-r-----\)$/m)
      assert.match(human.match(/^modified: +(.*)$/m)![1]!, ISO)

      // mv: rename, into an existing directory, replacing a non-empty directory fails.
      ok(run(['mv', 'docs:/renamed.txt', 'docs:/r2.txt']))
      ok(run(['mv', 'docs:/r2.txt', 'docs:/m']))
      assert.equal(ok(run(['ls', 'docs:/m'])).stdout, 'a\nr2.txt\n')
      ok(run(['mkdir', '-p', 'docs:/n/a/keep']))
      const ne = run(['mv', 'docs:/m/a', 'docs:/n'])
      assert.equal(ne.stderr, 'bt: mv docs:/n/a: Directory not empty\n')
      seen('mv notempty', ne.stderr)
      const x = run(['mv', 'docs:/m', 'other:/m'])
      assert.equal(x.status, 1)
      assert.match(x.stderr, /^bt: mv docs:\/m: Invalid cross-device link/)

      ok(run(['rm', 'docs:/m/r2.txt']))
      ok(run(['rm', '-r', 'docs:/n']))
      assert.equal(run(['stat', 'docs:/n']).stderr, 'bt: stat docs:/n: No such file or directory\n')
      const root = run(['rm', '-r', 'docs:/'])
      assert.equal(root.stderr, 'bt: rm docs:/: refusing to remove the root of a tree\n')
      assert.equal(ok(run(['cat', 'docs:/hello.txt'])).stdout, 'hello, blocktree\n')
    })

    test('log, cat --at, conflicts', () => {
      ok(run(['mkdir', '-p', 'docs:/logdir']))
      const f = join(work, 'v.txt')
      writeFileSync(f, 'version one\n')
      ok(run(['put', f, 'docs:/v.txt']))
      writeFileSync(f, 'version two\n')
      ok(run(['put', f, 'docs:/v.txt']))
      const log = JSON.parse(ok(run(['log', '--json', 'docs:/v.txt'])).stdout)
      assert.ok(log.length >= 2)
      for (const h of log) {
        assert.equal(h.path, '/v.txt')
        assert.match(h.version, /^[0-9a-f]{16,}$/)
        assert.equal(typeof h.time, 'number')
      }
      assert.equal(ok(run(['cat', 'docs:/v.txt'])).stdout, 'version two\n')
      // The oldest write is the first version; its short id from the human log works with --at.
      const human = ok(run(['log', 'docs:/v.txt']))
        .stdout.trim()
        .split('\n')
      assert.equal(human.length, log.length)
      // The short ids of the human log work with --at: newest → version two, some older one → version one.
      const shorts = human.map((l) => l.split(/ +/)[0]!)
      shorts.forEach((v, i) => {
        assert.ok(log[i].version.startsWith(v))
      })
      assert.equal(ok(run(['cat', 'docs:/v.txt', '--at', shorts[0]!])).stdout, 'version two\n')
      const older = shorts.slice(1).map((v) => ok(run(['cat', 'docs:/v.txt', '--at', v])).stdout)
      assert.ok(older.includes('version one\n'), older.join('|'))
      assert.match(human[0]!, /^[0-9a-f]{16} +\d{4}-\d\d-\d\dT\S+Z +[0-9a-f]{8} +\w+ +docs:\/v\.txt$/)
      assert.equal(JSON.parse(ok(run(['log', '--json', '-n', '1', 'docs'])).stdout).length, 1)
      const whole = JSON.parse(ok(run(['log', '--json', 'docs'])).stdout)
      assert.ok(whole.length > log.length)

      assert.deepEqual(JSON.parse(ok(run(['conflicts', '--json', 'docs'])).stdout), [])
      const none = ok(run(['conflicts', 'docs']))
      assert.equal(none.stdout, '')
      assert.equal(none.stderr, 'no conflicts in docs\n')
      const bad = run(['resolve', 'docs:/v.txt', '--keep', 'abcdef12'])
      assert.equal(bad.status, 1)
      assert.match(bad.stderr, /^bt: resolve docs:\/v\.txt: No such file or directory \(.*abcdef12.*\)\n$/)
    })

    test('df, verify, gc (human and --json)', () => {
      const df = JSON.parse(ok(run(['df', '--json'])).stdout)
      for (const k of ['chunks', 'storedBytes', 'logicalBytes', 'trees', 'dedupRatio']) assert.ok(k in df, k)
      assert.equal(df.trees.length, 1)
      assert.equal(df.trees[0].name, 'docs')
      assert.equal(df.logicalBytes, df.trees[0].logicalBytes)
      assert.ok(df.storedBytes > 0 && df.chunks > 0)
      const human = ok(run(['df'])).stdout.split('\n')
      assert.match(human[0]!, /^TREE +FILES +CHUNKS +STORED +LOGICAL +DEDUP$/)
      assert.match(human[1]!, /^docs +\d+ +\d+ +[\d.]+ (B|KiB|MiB) +[\d.]+ (B|KiB|MiB) +[\d.]+x$/)
      assert.match(human[2]!, /^total /)

      const v = JSON.parse(ok(run(['verify', '--json'])).stdout)
      assert.equal(v.ok, true)
      assert.deepEqual(v.trees[0].corrupt, [])
      assert.match(ok(run(['verify'])).stdout, /^docs: \d+ chunks checked, ok$/m)
      const gc = JSON.parse(ok(run(['gc', '--json'])).stdout)
      assert.equal(gc.trees[0].name, 'docs')
      assert.equal(typeof gc.trees[0].deletedChunks, 'number')
      assert.match(ok(run(['gc'])).stdout, /^docs: deleted \d+ chunks, freed [\d.]+ (B|KiB|MiB)$/m)
    })
  })
}

test('both modes show users the same results', {
  skip: !daemonAvailable() ? 'no node/daemon in this build' : false,
}, () => {
  assert.ok(transcripts.local.length > 5)
  assert.deepEqual(transcripts.daemon, transcripts.local)
})
