/**
 * One process per data dir. The lock is an exclusive SQLite lock (POSIX
 * advisory record locks underneath) on `<home>/lock.db`: the kernel drops it
 * when the holder dies, so a SIGKILLed daemon never leaves a stale lock. The
 * holder's pid is recorded inside the locked database's companion file
 * `lock.db.pid`, for messages only.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { HOME_FILES } from './home.js'
import { NodeError } from './node-error.js'

const RETRY_MS = 25

export class HomeLock {
  private constructor(
    private db: Database.Database | undefined,
    readonly home: string,
  ) {}

  /** Acquire the lock of `home` (created if needed), retrying for `waitMs`; NodeError ELOCKED if still held. */
  static async acquire(home: string, opts: { waitMs?: number } = {}): Promise<HomeLock> {
    mkdirSync(home, { recursive: true, mode: 0o700 })
    const deadline = performance.now() + (opts.waitMs ?? 0)
    for (;;) {
      const db = tryLock(home)
      if (db) {
        try {
          writeFileSync(pidFile(home), `${process.pid}\n`)
        } catch {
          // the pid file is informational only
        }
        return new HomeLock(db, home)
      }
      if (performance.now() >= deadline) {
        const pid = HomeLock.holder(home)
        throw new NodeError(
          'ELOCKED',
          home,
          `data dir is in use by another bt process${pid ? ` (pid ${pid})` : ''}`,
        )
      }
      await new Promise((r) => setTimeout(r, RETRY_MS))
    }
  }

  /** Pid last recorded by a holder (may be stale: informational). */
  static holder(home: string): number | undefined {
    try {
      const pid = Number.parseInt(readFileSync(pidFile(home), 'utf8'), 10)
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
    } catch {
      return undefined
    }
  }

  get held(): boolean {
    return this.db !== undefined
  }

  release(): void {
    const db = this.db
    this.db = undefined
    db?.close()
  }
}

function pidFile(home: string): string {
  return join(home, `${HOME_FILES.lock}.pid`)
}

function tryLock(home: string): Database.Database | undefined {
  let db: Database.Database | undefined
  try {
    db = new Database(join(home, HOME_FILES.lock), { timeout: 0 })
    db.pragma('journal_mode = DELETE')
    db.pragma('locking_mode = EXCLUSIVE')
    // A write transaction takes the exclusive lock; in EXCLUSIVE locking mode it is kept after commit.
    db.exec('CREATE TABLE IF NOT EXISTS lock (id INTEGER PRIMARY KEY)')
    db.exec('BEGIN EXCLUSIVE; INSERT OR REPLACE INTO lock (id) VALUES (1); COMMIT')
    return db
  } catch (e) {
    db?.close()
    if ((e as { code?: string }).code === 'SQLITE_BUSY') return undefined
    throw new NodeError(
      'ECORRUPT',
      join(home, HOME_FILES.lock),
      `cannot open the lock: ${(e as Error).message}`,
    )
  }
}
