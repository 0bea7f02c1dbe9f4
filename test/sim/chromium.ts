/**
 * A headless Chromium driven over the DevTools protocol on a pipe
 * (`--remote-debugging-pipe`: commands in on fd 3, answers and events out
 * on fd 4, each a JSON text ended by a NUL byte). No port is opened and no
 * npm package is needed: just Debian's `chromium`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'

export const CHROMIUM = process.env.BT_CHROMIUM ?? '/usr/bin/chromium'

/** Why the browser tests cannot run here (undefined: they can). */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium)`
}

/** One protocol event: its method, params and the page session it came from. */
export interface CdpEvent {
  method: string
  params: Record<string, unknown>
  sessionId?: string
}

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void; method: string }

/** A running browser with one page. `close()` always ends the process and removes its profile. */
export class Browser {
  readonly events: CdpEvent[] = []
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly waiters: { match: (e: CdpEvent) => boolean; resolve: (e: CdpEvent) => void }[] = []
  private buffered = ''
  private exited: Error | undefined
  private session = ''
  private stderr = ''

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const out = child.stdio[4] as Readable
    out.setEncoding('utf8')
    out.on('data', (chunk: string) => this.receive(chunk))
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (s: string) => {
      // Kept short: Chromium logs D-Bus complaints in a container; they only matter if it dies.
      this.stderr = (this.stderr + s).slice(-4000)
    })
    child.on('exit', (code, signal) => {
      this.exited = new Error(`chromium exited (${code ?? signal}); stderr tail:\n${this.stderr}`)
      for (const p of this.pending.values()) p.reject(this.exited)
      this.pending.clear()
    })
  }

  /** Start the browser (flags for root in a container, nothing that phones home) and open a blank page. */
  static async launch(viewport = { width: 1100, height: 800 }): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), 'bt-chromium-'))
    const child = spawn(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-default-apps',
        '--disable-extensions',
        '--remote-debugging-pipe',
        `--user-data-dir=${profile}`,
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    )
    const b = new Browser(child, profile)
    try {
      const { targetId } = await b.call('Target.createTarget', { url: 'about:blank' })
      const { sessionId } = await b.call('Target.attachToTarget', { targetId, flatten: true })
      b.session = String(sessionId)
      for (const domain of ['Page', 'Runtime', 'Network', 'Log']) await b.page(`${domain}.enable`)
      // Pages under test must not reach the network: any http(s)/ws(s) request is failed before
      // it leaves (it still shows in the Network events, where tests look for it).
      await b.page('Fetch.enable', { patterns: [{ urlPattern: 'http*' }, { urlPattern: 'ws*' }] })
      await b.page('Emulation.setDeviceMetricsOverride', {
        ...viewport,
        deviceScaleFactor: 1,
        mobile: false,
      })
      return b
    } catch (e) {
      await b.close()
      throw e
    }
  }

  /** A browser-level command. */
  call(method: string, params: Record<string, unknown> = {}, sessionId?: string) {
    if (this.exited) return Promise.reject(this.exited)
    const id = this.nextId++
    const msg = JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method })
      ;(this.child.stdio[3] as Writable).write(`${msg}\0`)
    })
  }

  /** A command to the page. */
  page(method: string, params: Record<string, unknown> = {}) {
    return this.call(method, params, this.session)
  }

  /** Open a URL and wait for its load event (scripts ran, images and styles loaded). */
  async goto(url: string): Promise<void> {
    const loaded = this.next((e) => e.method === 'Page.loadEventFired' && e.sessionId === this.session)
    const nav = await this.page('Page.navigate', { url })
    if (nav.errorText) throw new Error(`navigating to ${url}: ${nav.errorText}`)
    await loaded
  }

  /** Evaluate an expression in the page; its value (JSON-able) comes back. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.page('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })
    if (r.exceptionDetails) throw new Error(`in the page: ${JSON.stringify(r.exceptionDetails)}`)
    return (r.result as { value: T }).value
  }

  /** A PNG of the whole page. */
  async screenshot(): Promise<Buffer> {
    const r = await this.page('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })
    return Buffer.from(String(r.data), 'base64')
  }

  /** End the browser (politely, then by signal) and remove its profile. */
  async close(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise((res) => this.child.once('exit', res))
      this.call('Browser.close').catch(() => {})
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
      await gone
      clearTimeout(timer)
    }
    rmSync(this.profile, { recursive: true, force: true })
  }

  private next(match: (e: CdpEvent) => boolean): Promise<CdpEvent> {
    return new Promise((resolve) => this.waiters.push({ match, resolve }))
  }

  private receive(chunk: string): void {
    this.buffered += chunk
    let end = this.buffered.indexOf('\0')
    while (end >= 0) {
      const msg = JSON.parse(this.buffered.slice(0, end)) as {
        id?: number
        result?: Record<string, unknown>
        error?: { message: string }
      } & Partial<CdpEvent>
      this.buffered = this.buffered.slice(end + 1)
      end = this.buffered.indexOf('\0')
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id)
        this.pending.delete(msg.id)
        if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`))
        else p?.resolve(msg.result ?? {})
      } else if (msg.method) {
        const e: CdpEvent = {
          method: msg.method,
          params: msg.params ?? {},
          ...(msg.sessionId ? { sessionId: msg.sessionId } : {}),
        }
        this.events.push(e)
        if (e.method === 'Fetch.requestPaused')
          this.call(
            'Fetch.failRequest',
            { requestId: e.params.requestId, errorReason: 'BlockedByClient' },
            e.sessionId,
          ).catch(() => {})
        for (const [i, w] of this.waiters.entries()) {
          if (w.match(e)) {
            this.waiters.splice(i, 1)
            w.resolve(e)
            break
          }
        }
      }
    }
  }
}
