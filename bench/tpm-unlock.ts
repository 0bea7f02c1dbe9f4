/**
 * Time to unlock a node's 64-byte master secret, per protection mode: `none`,
 * `passphrase` (scrypt N = 2^17, r = 8, p = 1), `tpm` on swtpm (with and
 * without a PCR policy). This is what each mode adds to a node start.
 * Baselines in the same run: the bare node:crypto scrypt call for the
 * passphrase mode, and tpm2-tools' createprimary + load + unseal chain on the
 * same swtpm for the TPM mode.
 *
 * Usage: node dist/bench/tpm-unlock.js [--quick] [--rounds N]
 */
import { execFileSync } from 'node:child_process'
import { randomBytes, scryptSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSwtpm } from '../test/helpers/swtpm.js'
import {
  newRecoveryCode,
  type ProtectOptions,
  protectSecret,
  type TpmRecord,
  unprotectSecret,
} from '../tpm/index.js'
import { benchArgs } from './args.js'

process.env.BT_NETWORK ??= 'loopback'
const opts = benchArgs('tpm-unlock', 'Time to unlock the master secret per key protection mode.', {
  rounds: { full: [20], quick: [2], help: 'unlocks timed per mode' },
})
const rounds = opts.rounds[0] as number
const cleanups: (() => unknown)[] = []
const teardown = { after: (fn: () => unknown) => cleanups.push(fn) }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now()
    await fn()
    times.push(performance.now() - t0)
  }
  return median(times)
}

function row(what: string, ms: number, baseline?: [string, number]): void {
  const b = baseline ? `   baseline ${baseline[0]}: ${baseline[1].toFixed(2)} ms` : ''
  console.log(`  ${what.padEnd(34)} ${ms.toFixed(2).padStart(9)} ms${b}`)
}

async function main(): Promise<void> {
  console.log(`tpm-unlock: median of ${rounds} unlocks of a 64-byte secret${opts.quick ? ' (quick)' : ''}`)
  const secret = new Uint8Array(randomBytes(64))
  const check = async (
    record: Awaited<ReturnType<typeof protectSecret>>,
    o: Omit<ProtectOptions, 'protection'>,
  ) => {
    const got = await unprotectSecret(record, o)
    if (!Buffer.from(got).equals(secret)) throw new Error('unlocked the wrong secret')
  }

  const none = await protectSecret(secret, { protection: 'none' })
  row('none', await time(() => check(none, {})))

  // The quick run keeps the production cost too: the smoke test should run what users run.
  const passphrase = async () => 'correct horse battery staple'
  const pp = await protectSecret(secret, { protection: 'passphrase', passphrase })
  const salt = randomBytes(16)
  const scryptMs = await time(() =>
    scryptSync('correct horse battery staple', salt, 32, {
      N: 2 ** 17,
      r: 8,
      p: 1,
      maxmem: 256 * 1024 * 1024,
    }),
  )
  row('passphrase (scrypt 2^17, 8, 1)', await time(() => check(pp, { passphrase })), [
    'bare scrypt',
    scryptMs,
  ])

  let sw: Awaited<ReturnType<typeof startSwtpm>>
  try {
    sw = await startSwtpm(teardown)
  } catch (e) {
    console.log(`  tpm: skipped (${(e as Error).message})`)
    return
  }
  const tpm = sw.spec
  const sealed = (await protectSecret(secret, { protection: 'tpm', tpm })) as TpmRecord
  const code = newRecoveryCode()
  const bound = await protectSecret(secret, {
    protection: 'tpm',
    tpm,
    pcrs: [16],
    recovery: async () => code,
    kdf: { logN: 10, r: 8, p: 1 },
  })
  const toolsMs = tpm2ToolsUnseal(sw.tcti, sealed)
  row('tpm (swtpm, salted session)', await time(() => check(sealed, { tpm })), ['tpm2-tools chain', toolsMs])
  row('tpm + PCR 16 policy', await time(() => check(bound, { tpm })))
  const seal = await time(() => protectSecret(secret, { protection: 'tpm', tpm }))
  row('tpm seal (bt init / re-seal)', seal)
}

/** Median time of tpm2_createprimary + tpm2_load + tpm2_unseal (three processes, the usual script) on the same swtpm. */
function tpm2ToolsUnseal(tcti: string, record: TpmRecord): number {
  const dir = mkdtempSync(join(tmpdir(), 'bt-bench-tpm-'))
  try {
    const env = { ...process.env, TPM2TOOLS_TCTI: tcti }
    const tpm2b = (b64: string) => {
      const b = Buffer.from(b64, 'base64')
      const s = Buffer.alloc(2)
      s.writeUInt16BE(b.length, 0)
      return Buffer.concat([s, b])
    }
    writeFileSync(join(dir, 'seal.pub'), tpm2b(record.public))
    writeFileSync(join(dir, 'seal.priv'), tpm2b(record.private))
    const unique = Buffer.alloc(260)
    unique.writeUInt16LE(32, 0)
    unique.writeUInt16LE(32, 130)
    writeFileSync(join(dir, 'unique.bin'), unique)
    const run = (...args: string[]) =>
      execFileSync(args[0] as string, args.slice(1), { cwd: dir, env, stdio: 'pipe' })
    const attrs = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt'
    const times: number[] = []
    // Without a resource manager each tool leaves its contexts loaded: flush between tools, untimed.
    const timed = (...args: string[]) => {
      const t0 = performance.now()
      run(...args)
      const ms = performance.now() - t0
      run('tpm2_flushcontext', '-t')
      return ms
    }
    for (let i = 0; i < rounds; i++) {
      times.push(
        timed(
          'tpm2_createprimary',
          '-C',
          'o',
          '-G',
          'ecc256:aes128cfb',
          '-a',
          attrs,
          '-u',
          'unique.bin',
          '-c',
          'p.ctx',
        ) +
          timed('tpm2_load', '-C', 'p.ctx', '-u', 'seal.pub', '-r', 'seal.priv', '-c', 's.ctx') +
          timed('tpm2_unseal', '-c', 's.ctx', '-o', 'out.bin'),
      )
    }
    return median(times)
  } catch (e) {
    console.log(`  tpm2-tools baseline failed: ${(e as Error).message.split('\n')[0]}`)
    return Number.NaN
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

try {
  await main()
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
