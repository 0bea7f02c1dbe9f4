import { mkdtempSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fusermountUnmount, isFuse, listMounts } from '../../fuse/stale.js'

/** Minimal shape of node:test's TestContext we need (works for test and suite hooks). */
export interface Teardown {
  after(fn: () => unknown): void
}

/**
 * Remove a test's directory. A FUSE mount still at or under it (a test or a
 * daemon that did not unmount) is detached first, with a note on stderr: a
 * recursive removal would otherwise walk into the live mount, deleting a
 * tree's files through FUSE, or never return if this process serves it. The
 * removal itself is asynchronous for the same reason: a synchronous call on a
 * mount this process serves blocks the thread that would answer it.
 */
export async function removeTestDir(dir: string): Promise<void> {
  const under = `${dir}/`
  const left = (await listMounts().catch(() => [])).filter(
    (m) => isFuse(m) && (m.dir === dir || m.dir.startsWith(under)),
  )
  for (const m of left.reverse()) {
    process.stderr.write(`tmp: a FUSE mount was left at ${m.dir}; detaching it before removing ${dir}\n`)
    await fusermountUnmount(m.dir, true).catch(() => {})
  }
  await rm(dir, { recursive: true, force: true })
}

/**
 * A fresh temporary directory; when the test ends `first(dir)` runs (e.g.
 * `bt down` for a daemon serving from it), then the directory is removed.
 * (Teardown hooks run in the order they were added, so a `bt down` added
 * after `tmpDir` would find its data dir already gone and leave the daemon.)
 */
export function tmpDirWith(t: Teardown, prefix: string, first: (dir: string) => unknown): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(async () => {
    try {
      await first(dir)
    } finally {
      await removeTestDir(dir)
    }
  })
  return dir
}

/** A fresh temporary directory removed when the test ends. */
export function tmpDir(t: Teardown, prefix = 'bt-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => removeTestDir(dir))
  return dir
}
