/**
 * Real programs on a mounted disk volume: git (init, add, commit, status,
 * log, fsck), tar extracting thousands of files, sqlite3 with a rollback
 * journal and with WAL, `cp -a` back out and `diff -r` against the source.
 * Each program runs as a child process (this process serves the mount).
 * A test whose program is missing is skipped with the Debian package to
 * install (git, tar, sqlite3, diffutils, coreutils).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fuseSkipReason, sh, shOk, withMount } from '../helpers/fuse.js'

const fuseSkip = fuseSkipReason()

/** Skip reason when `program` is not installed (the Debian package that has it). */
function missing(program: string, pkg: string): string | false {
  const r = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' })
  return r.status === 0 ? false : `${program} is not installed (Debian package ${pkg})`
}

function skipFor(program: string, pkg: string): string | false {
  return fuseSkip ?? missing(program, pkg)
}

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`

/** Permission bits, kind, size and relative path of everything under `dir`, sorted. */
async function listing(dir: string): Promise<string> {
  const out = await shOk(`cd ${q(dir)} && find . -printf '%y %m %s %p %l\\n' | LC_ALL=C sort`)
  // Directory sizes are the filesystem's own business.
  return out.replace(/^d (\d+) \d+ /gm, 'd $1 - ')
}

/** A source tree on the local disk: `dirs` directories of `perDir` files, a few modes and symlinks. */
async function makeTree(root: string, dirs: number, perDir: number): Promise<void> {
  for (let d = 0; d < dirs; d++) {
    const dir = join(root, `dir${d}`, `sub${d % 7}`)
    await mkdir(dir, { recursive: true })
    for (let f = 0; f < perDir; f++) {
      const body = `${d}/${f} `.repeat(1 + ((d * 31 + f * 17) % 300))
      await writeFile(join(dir, `file${f}.txt`), body, { mode: f % 5 === 0 ? 0o755 : 0o644 })
    }
  }
  await writeFile(join(root, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 123, 7))
  await shOk(`cd ${q(root)} && ln -s dir0/sub0/file0.txt link && ln -s missing dangling`)
}

describe('real programs on the mount', { skip: fuseSkip }, () => {
  test('git init, add, commit, status, log, fsck', {
    skip: skipFor('git', 'git'),
    timeout: 300_000,
  }, async (t) => {
    const m = await withMount(t, { disk: true })
    const repo = join(m.dir, 'repo')
    await mkdir(repo)
    await makeTree(join(repo, 'src'), 10, 20)
    const git = `git -c user.name=bt -c user.email=bt@example.invalid -c init.defaultBranch=main`
    await shOk(`cd ${q(repo)} && ${git} init -q && ${git} add -A && ${git} commit -q -m first`)
    assert.equal(await shOk(`cd ${q(repo)} && ${git} status --porcelain`), '')
    await writeFile(join(repo, 'src', 'dir1', 'sub1', 'file3.txt'), 'changed\n')
    await shOk(`cd ${q(repo)} && ${git} commit -q -am second`)
    const log = await shOk(`cd ${q(repo)} && ${git} log --format=%s`)
    assert.equal(log, 'second\nfirst\n')
    assert.equal(await shOk(`cd ${q(repo)} && ${git} status --porcelain`), '')
    await shOk(`cd ${q(repo)} && ${git} fsck --full --strict`)
    // A clone out to the local disk checks out the same tree.
    const clone = join(m.scratch, 'clone')
    await shOk(`${git} clone -q ${q(repo)} ${q(clone)}`)
    await shOk(`diff -r --no-dereference --exclude=.git ${q(repo)} ${q(clone)}`)
  })

  test('tar x of thousands of files, cp -a back out, diff -r', {
    skip: skipFor('tar', 'tar') || missing('diff', 'diffutils'),
    timeout: 600_000,
  }, async (t) => {
    const m = await withMount(t, { disk: true })
    const src = join(m.scratch, 'src')
    await makeTree(src, 40, 50) // 2000 files, 40 + 7 directories
    await shOk(`tar -C ${q(m.scratch)} -cf ${q(join(m.scratch, 'src.tar'))} src`)
    await shOk(`tar -C ${q(m.dir)} -xf ${q(join(m.scratch, 'src.tar'))}`, { timeoutMs: 540_000 })
    await shOk(`diff -r --no-dereference ${q(src)} ${q(join(m.dir, 'src'))}`)
    assert.equal(await listing(join(m.dir, 'src')), await listing(src))
    const back = join(m.scratch, 'back')
    await shOk(`cp -a ${q(join(m.dir, 'src'))} ${q(back)}`, { timeoutMs: 300_000 })
    await shOk(`diff -r --no-dereference ${q(src)} ${q(back)}`)
    assert.equal(await listing(back), await listing(src))
    // Modification times: tar's archive keeps whole seconds, which the mount keeps; cp -a
    // copies what the mount reports.
    const times = (dir: string, fmt: string) =>
      shOk(`cd ${q(dir)} && find . -type f -printf '${fmt} %p\\n' | LC_ALL=C sort`)
    assert.equal(await times(join(m.dir, 'src'), '%Ts'), await times(src, '%Ts'))
    assert.equal(await times(back, '%T@'), await times(join(m.dir, 'src'), '%T@'))
  })

  for (const mode of ['DELETE', 'WAL']) {
    test(`sqlite3 creates and queries a database (journal_mode=${mode})`, {
      skip: skipFor('sqlite3', 'sqlite3'),
      timeout: 300_000,
    }, async (t) => {
      const m = await withMount(t, { disk: true })
      const db = join(m.dir, `test-${mode}.db`)
      const sql = `PRAGMA journal_mode=${mode};
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
  INSERT INTO t (name, v) SELECT 'row' || i, randomblob(100) FROM n;
CREATE INDEX t_name ON t (name);
BEGIN; UPDATE t SET name = name || '!' WHERE id % 3 = 0; DELETE FROM t WHERE id % 10 = 0; COMMIT;
SELECT count(*), sum(length(name)) FROM t;`
      const first = await shOk(`sqlite3 ${q(db)}`, { input: sql })
      assert.match(first, new RegExp(`^${mode.toLowerCase()}\\n18000\\|`, 'm'))
      // A second process: reads what the first wrote, integrity intact, and writes more.
      const again = await shOk(`sqlite3 ${q(db)}`, {
        input: `PRAGMA integrity_check; SELECT count(*) FROM t WHERE name LIKE '%!';
INSERT INTO t (name) VALUES ('late'); SELECT count(*) FROM t;`,
      })
      assert.equal(again, 'ok\n6000\n18001\n')
      // A rolled-back transaction leaves nothing behind.
      const r = await sh(`sqlite3 ${q(db)}`, {
        input: `BEGIN; DELETE FROM t; ROLLBACK; SELECT count(*) FROM t;`,
      })
      assert.equal(r.stdout, '18001\n', r.stderr)
    })
  }
})
