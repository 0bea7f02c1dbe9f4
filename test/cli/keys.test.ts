/**
 * Key protection through the real `bt` (child processes): a TPM (swtpm) key
 * across daemon and swtpm restarts, a passphrase key (env, wrong, missing,
 * handed to a detached daemon), a PCR-bound seal recovered with its code,
 * rotation, passwd, export/import, and a scan of the data dir for the secret.
 * Passphrase runs use the default scrypt cost (~1 s per wrap or unwrap), so
 * their number is kept small.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import type { Io } from '../../node/cli/context.js'
import { runCli } from '../../node/cli/main.js'
import { loadIdentity } from '../../node/identity.js'
import { TpmClient } from '../../tpm/client.js'
import { startSwtpm } from '../helpers/swtpm.js'
import { type Teardown, tmpDir, tmpDirWith } from '../helpers/tmp.js'
import { type BtResult, bt, btEnv, ok } from './helpers.js'

/** A data dir path (not created) whose daemon, if any, is stopped after the test. */
function newHome(t: Teardown, env: NodeJS.ProcessEnv = {}): string {
  return join(
    tmpDirWith(t, 'bt-keys-', (d) => bt(join(d, 'home'), ['down'], { env })),
    'home',
  )
}

/** Exactly one line on stderr, exit 1, matching `re`. */
function failsWith(r: BtResult, re: RegExp): void {
  assert.equal(r.status, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, r.stderr)
  assert.match(lines[0]!, re)
}

/** Every byte of every file under dir. */
function allBytes(dir: string): Buffer {
  const out: Buffer[] = []
  for (const e of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, e)
    if (statSync(p).isFile()) out.push(readFileSync(p))
  }
  return Buffer.concat(out)
}

/** The node's seed and wrap key must appear nowhere in the data dir (raw, hex, base64). */
async function assertNoSecretAtRest(home: string, unlock: Parameters<typeof loadIdentity>[1]): Promise<void> {
  const id = await loadIdentity(home, unlock)
  const bytes = allBytes(home)
  const text = bytes.toString('latin1')
  for (const k of [id.seed, id.wrapKey]) {
    const b = Buffer.from(k)
    assert.equal(bytes.includes(b), false, 'raw secret on disk')
    assert.equal(text.includes(b.toString('hex')), false, 'hex secret on disk')
    assert.equal(text.includes(b.toString('base64').slice(0, 40)), false, 'base64 secret on disk')
  }
}

async function extendPcr(spec: string, pcr: number): Promise<void> {
  const c = await TpmClient.open(spec)
  try {
    await c.pcrExtend(pcr, randomBytes(32))
  } finally {
    await c.close()
  }
}

function put(home: string, text: string, o: { env?: NodeJS.ProcessEnv; args?: string[] } = {}): void {
  ok(bt(home, [...(o.args ?? []), 'put', '-', 'docs:/f'], { input: text, ...(o.env ? { env: o.env } : {}) }))
}

/** A terminal that types `lines`, one per prompt (promptHidden resumes the stream for each). */
class FakeTty extends EventEmitter {
  readonly isTTY = true
  constructor(private readonly lines: string[]) {
    super()
  }
  setRawMode(): this {
    return this
  }
  resume(): this {
    const line = this.lines.shift()
    if (line !== undefined) setImmediate(() => this.emit('data', Buffer.from(`${line}\r`)))
    return this
  }
  pause(): this {
    return this
  }
}

/** `bt` in this process with a fake terminal on stdin. */
async function btTty(argv: string[], lines: string[]): Promise<BtResult> {
  const { PassThrough } = await import('node:stream')
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.setEncoding('utf8').on('data', (d) => (out += d))
  stderr.setEncoding('utf8').on('data', (d) => (err += d))
  const io = {
    stdout,
    stderr,
    stdin: new FakeTty(lines),
    stderrTTY: false,
    columns: 80,
    env: btEnv(),
    now: () => Date.now(),
  } as unknown as Io
  const status = await runCli(argv, io)
  await new Promise((r) => setImmediate(r))
  return { status, stdout: out, stderr: err }
}

describe('bt with key protection', { timeout: 300_000 }, () => {
  test('tpm: init, put, daemon up/down, swtpm restart, rotate; the secret is not on disk', async (t) => {
    const sw = await startSwtpm(t)
    const home = newHome(t)
    const tpm = ['--tpm', sw.spec]
    const init = ok(bt(home, [...tpm, 'init', '--key-protection', 'tpm']))
    assert.equal(init.stderr, '', 'a tpm init prints no warning')
    const nodeId = init.stdout.trim()
    assert.match(nodeId, /^[0-9a-f]{64}$/)
    ok(bt(home, [...tpm, 'tree', 'create', 'docs']))
    put(home, 'sealed data', { args: tpm })

    // The daemon unlocks with --tpm too, and says how the key is kept.
    ok(bt(home, [...tpm, 'up', '--detach']))
    assert.equal(ok(bt(home, ['cat', 'docs:/f'])).stdout, 'sealed data')
    failsWith(bt(home, ['key', 'rotate']), /stop the node first \(bt down\)/)
    ok(bt(home, ['down']))
    assert.match(readFileSync(join(home, 'node.log'), 'utf8'), /node key protection: tpm/)

    await sw.restart()
    // BT_TPM works like --tpm.
    assert.equal(ok(bt(home, ['cat', 'docs:/f'], { env: { BT_TPM: sw.spec } })).stdout, 'sealed data')
    // Without naming the TPM, /dev/tpmrm0 is asked (absent here): one line, pointing at recovery.
    failsWith(bt(home, ['cat', 'docs:/f']), /TPM.*bt key recover/)

    const before = JSON.parse(readFileSync(join(home, 'identity.json'), 'utf8'))
    const rot = ok(bt(home, [...tpm, '--json', 'key', 'rotate']))
    const r = JSON.parse(rot.stdout)
    assert.equal(r.nodeId, nodeId)
    assert.equal(r.rewrapped, 1)
    assert.equal(r.keyProtection, 'tpm')
    const after = JSON.parse(readFileSync(join(home, 'identity.json'), 'utf8'))
    assert.notEqual(after.wrapId, before.wrapId)
    assert.equal(ok(bt(home, [...tpm, 'cat', 'docs:/f'])).stdout, 'sealed data')

    const st = JSON.parse(ok(bt(home, [...tpm, '--json', 'key', 'status'])).stdout)
    assert.deepEqual(
      { p: st.keyProtection, tpm: st.tpm, pcrs: st.pcrs, rec: st.recoveryCopy, id: st.nodeId },
      { p: 'tpm', tpm: sw.spec, pcrs: [], rec: false, id: nodeId },
    )
    await assertNoSecretAtRest(home, { tpm: sw.spec })
  })

  test('tpm bound to PCR 16: the code is shown once; after an extend commands point at recover, which works', async (t) => {
    const sw = await startSwtpm(t)
    const home = newHome(t)
    const tpm = ['--tpm', sw.spec]
    const init = ok(bt(home, [...tpm, '--json', 'init', '--tpm-pcrs', '16']))
    const j = JSON.parse(init.stdout)
    assert.equal(j.keyProtection, 'tpm')
    assert.match(j.recoveryCode, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/)
    assert.match(init.stderr, /RECOVERY CODE/)
    assert.ok(init.stderr.includes(j.recoveryCode))
    ok(bt(home, [...tpm, 'tree', 'create', 'docs']))
    put(home, 'bound data', { args: tpm })

    await extendPcr(sw.spec, 16)
    failsWith(bt(home, [...tpm, 'cat', 'docs:/f']), /PCR 16 changed.*bt key recover/)
    failsWith(
      bt(home, [...tpm, 'key', 'recover'], {
        env: { BT_RECOVERY_CODE: 'AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA' },
      }),
      /recovery code|passphrase/i,
    )
    // Typed in lower case without dashes: still the code.
    const code = j.recoveryCode.replaceAll('-', '').toLowerCase()
    ok(bt(home, [...tpm, 'key', 'recover'], { env: { BT_RECOVERY_CODE: code } }))
    assert.equal(ok(bt(home, [...tpm, 'cat', 'docs:/f'])).stdout, 'bound data')
    const st = JSON.parse(ok(bt(home, ['--json', 'key', 'status'])).stdout)
    assert.deepEqual([st.pcrs, st.recoveryCopy, st.nodeId], [[16], true, j.nodeId])

    // Another TPM (a new machine's, a cleared one): refused clearly, nothing rewritten; recover moves the key.
    const other = await startSwtpm(t)
    const keyFile = readFileSync(join(home, 'identity.json'), 'utf8')
    failsWith(bt(home, ['--tpm', other.spec, 'cat', 'docs:/f']), /another TPM.*bt key recover/)
    assert.equal(readFileSync(join(home, 'identity.json'), 'utf8'), keyFile)
    ok(bt(home, ['--tpm', other.spec, 'key', 'recover'], { env: { BT_RECOVERY_CODE: j.recoveryCode } }))
    assert.equal(ok(bt(home, ['--tpm', other.spec, 'cat', 'docs:/f'])).stdout, 'bound data')
    failsWith(bt(home, [...tpm, 'cat', 'docs:/f']), /another TPM.*bt key recover/)
  })

  test('passphrase: env, wrong, missing, detached daemon, passwd, export/import', async (t) => {
    const pass = { BT_PASSPHRASE: 'correct horse' }
    const home = newHome(t, pass)
    const init = ok(bt(home, ['init', '--key-protection', 'passphrase'], { env: pass }))
    assert.equal(init.stderr, '', 'a passphrase init prints no warning')
    const nodeId = init.stdout.trim()
    ok(bt(home, ['tree', 'create', 'docs'], { env: pass }))
    put(home, 'pass data', { env: pass })

    failsWith(bt(home, ['cat', 'docs:/f'], { env: { BT_PASSPHRASE: 'wrong' } }), /passphrase/)
    failsWith(bt(home, ['cat', 'docs:/f']), /passphrase.*none was given/)
    // Detached, without a passphrase and without a terminal: an error at once, no daemon.
    const t0 = Date.now()
    failsWith(bt(home, ['up', '--detach']), /passphrase.*BT_PASSPHRASE/)
    assert.ok(Date.now() - t0 < 15_000)

    ok(bt(home, ['up', '--detach'], { env: pass }))
    const daemon = JSON.parse(readFileSync(join(home, 'daemon.json'), 'utf8')) as { pid: number }
    // The passphrase reached the daemon through a pipe: not in its command line or environment.
    for (const f of ['cmdline', 'environ'])
      assert.equal(readFileSync(`/proc/${daemon.pid}/${f}`, 'latin1').includes('correct horse'), false, f)
    assert.equal(ok(bt(home, ['cat', 'docs:/f'])).stdout, 'pass data')
    ok(bt(home, ['down']))
    assert.match(readFileSync(join(home, 'node.log'), 'utf8'), /node key protection: passphrase/)
    assert.doesNotMatch(readFileSync(join(home, 'node.log'), 'utf8'), /UNPROTECTED/)

    ok(bt(home, ['key', 'passwd'], { env: { ...pass, BT_NEW_PASSPHRASE: 'battery staple' } }))
    const newPass = { BT_PASSPHRASE: 'battery staple' }
    assert.equal(ok(bt(home, ['cat', 'docs:/f'], { env: newPass })).stdout, 'pass data')

    const out = join(tmpDir(t), 'node.backup')
    const backupEnv = { ...newPass, BT_BACKUP_PASSPHRASE: 'backup pw' }
    ok(bt(home, ['key', 'export', out], { env: backupEnv }))
    assert.equal(statSync(out).mode & 0o777, 0o600)
    const backup = readFileSync(out, 'utf8')
    assert.match(backup, /BEGIN BLOCKTREE KEY BACKUP/)
    failsWith(bt(home, ['key', 'export', out], { env: backupEnv }), /exists.*--force/)
    assert.equal(readFileSync(out, 'utf8'), backup)

    const other = newHome(t)
    failsWith(
      bt(other, ['key', 'import', out, '--key-protection', 'none'], {
        env: { BT_BACKUP_PASSPHRASE: 'nope' },
      }),
      /passphrase/,
    )
    const imp = ok(
      bt(other, ['key', 'import', out, '--key-protection', 'none'], {
        env: { BT_BACKUP_PASSPHRASE: 'backup pw' },
      }),
    )
    assert.equal(imp.stdout.trim(), nodeId)
    assert.match(imp.stderr, /UNPROTECTED/)
    failsWith(bt(other, ['key', 'import', out]), /already has a node key/)
    await assertNoSecretAtRest(home, { passphrase: async () => 'battery staple' })
  })

  test('none: warned at init and on every daemon start; key status reads without unlocking', (t) => {
    const home = newHome(t)
    const init = ok(bt(home, ['init', '--key-protection', 'none']))
    assert.match(init.stderr, /warning: .*UNPROTECTED/)
    ok(bt(home, ['up', '--detach']))
    ok(bt(home, ['down']))
    const log = readFileSync(join(home, 'node.log'), 'utf8')
    assert.match(log, /node key protection: none/)
    assert.match(log, /warning: .*UNPROTECTED/)
    const st = ok(bt(home, ['key', 'status'])).stdout
    assert.match(st, /key: +none \(stored UNPROTECTED\)/)
    // Usage errors: exit 2, one line.
    const bad = bt(home, ['init', '--key-protection', 'passphrase', '--tpm-pcrs', '7'])
    assert.equal(bad.status, 2)
    assert.equal(bt(home, ['key', 'rotate', '--tpm-pcrs', '24']).status, 2)
    assert.equal(bt(home, ['key']).status, 2)
    assert.match(ok(bt(home, ['key', '--help'])).stdout, /bt key recover/)
    failsWith(bt(home, ['key', 'recover']), /not a TPM/)
    failsWith(bt(home, ['key', 'passwd']), /not a passphrase/)
  })

  test('prompts on a terminal: a new passphrase is asked twice, passwd asks old then new twice', async (t) => {
    const home = newHome(t)
    const init = ['--home', home, 'init', '--key-protection', 'passphrase']
    const differ = await btTty(init, ['one', 'two'])
    assert.equal(differ.status, 1)
    assert.match(differ.stderr, /differ/)
    assert.equal(existsSync(join(home, 'identity.json')), false)
    const r = await btTty(init, ['typed pw', 'typed pw'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /passphrase for the node key: [\s\S]*again, to confirm: /)
    assert.doesNotMatch(r.stderr, /typed pw|warning/)
    const pw = await btTty(['--home', home, 'key', 'passwd'], ['typed pw', 'new pw', 'new pw'])
    assert.equal(pw.status, 0, pw.stderr)
    assert.match(pw.stderr, /passphrase for the node key: [\s\S]*new passphrase for the node key: /)
    await loadIdentity(home, { passphrase: async () => 'new pw' })
  })
})
