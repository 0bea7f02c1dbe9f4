import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Minimal shape of node:test's TestContext we need (works for test and suite hooks). */
export interface Teardown {
  after(fn: () => unknown): void
}

/** A fresh temporary directory removed when the test ends. */
export function tmpDir(t: Teardown, prefix = 'bt-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
