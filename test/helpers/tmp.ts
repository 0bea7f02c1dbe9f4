import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Minimal shape of node:test's TestContext we need (works for test and suite hooks). */
export interface Teardown {
  after(fn: () => unknown): void
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
      rmSync(dir, { recursive: true, force: true })
    }
  })
  return dir
}

/** A fresh temporary directory removed when the test ends. */
export function tmpDir(t: Teardown, prefix = 'bt-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
