/**
 * What the key commands ask the user for, and how key failures read: the
 * node passphrase, a backup passphrase, a recovery code (each from its
 * environment variable, else a hidden prompt on the terminal), which TPM
 * (`--tpm`, else `$BT_TPM`, else /dev/tpmrm0), PCR lists, and the one-time
 * display of a new recovery code.
 */
import type { ReadStream } from 'node:tty'
import type { UnprotectOptions } from '../../tpm/types.js'
import { UsageError } from './args.js'
import { CliError, type Ctx } from './context.js'
import { promptHidden } from './passphrase.js'

/** A secret the user types or sets in the environment. */
export interface SecretSpec {
  /** Environment variable that supplies it (`BT_PASSPHRASE`). */
  env: string
  /** What it is, for the prompt and for errors (`passphrase for the node key`). */
  what: string
  /** Ask twice (a new secret). */
  confirm?: boolean
}

export const NODE_PASSPHRASE: SecretSpec = { env: 'BT_PASSPHRASE', what: 'passphrase for the node key' }
export const NEW_PASSPHRASE: SecretSpec = {
  env: 'BT_NEW_PASSPHRASE',
  what: 'new passphrase for the node key',
  confirm: true,
}
export const BACKUP_PASSPHRASE: SecretSpec = { env: 'BT_BACKUP_PASSPHRASE', what: 'backup passphrase' }
export const RECOVERY_CODE: SecretSpec = { env: 'BT_RECOVERY_CODE', what: 'recovery code' }

/** Variables that carry secrets: kept out of a long-running daemon's environment. */
export const SECRET_VARS = [NODE_PASSPHRASE, NEW_PASSPHRASE, BACKUP_PASSPHRASE, RECOVERY_CODE].map(
  (s) => s.env,
)

/**
 * A source for `spec` that asks at most once (tpm/ may call it again, e.g.
 * rotation unlocks and re-protects with the same passphrase). Without the
 * variable and without a terminal it fails with one line saying what to set.
 */
export function secretSource(ctx: Ctx, spec: SecretSpec): () => Promise<string> {
  let asked: Promise<string> | undefined
  const ask = async (): Promise<string> => {
    const fromEnv = ctx.io.env[spec.env]
    if (fromEnv !== undefined) return fromEnv
    const stdin = ctx.io.stdin as ReadStream
    if (!stdin.isTTY || typeof stdin.setRawMode !== 'function')
      throw new CliError(undefined, `a ${spec.what} is needed: set ${spec.env} or run bt in a terminal`)
    const first = await promptHidden(`bt: ${spec.what}: `, stdin, ctx.io.stderr)
    if (spec.confirm && (await promptHidden('bt: again, to confirm: ', stdin, ctx.io.stderr)) !== first)
      throw new CliError(undefined, `the two ${spec.what}s differ; nothing was changed`)
    if (first === '') throw new CliError(undefined, `the ${spec.what} is empty; nothing was changed`)
    return first
  }
  return () => {
    asked ??= ask()
    return asked
  }
}

/** Whether `spec` can be had here: its variable is set or there is a terminal to ask on. */
export function canAsk(ctx: Ctx, spec: SecretSpec): boolean {
  return ctx.io.env[spec.env] !== undefined || (ctx.io.stdin as ReadStream).isTTY === true
}

/** The TPM spec the user named: `--tpm`, else `$BT_TPM` (undefined: tpm/'s default, /dev/tpmrm0). */
export function tpmSpec(ctx: Ctx): string | undefined {
  return ctx.value('tpm') ?? (ctx.io.env.BT_TPM || undefined)
}

/** How to unlock the node key of this data dir: node passphrase, TPM, and optionally the recovery code. */
export function unlockOptions(ctx: Ctx, o: { recovery?: boolean } = {}): UnprotectOptions {
  const u: UnprotectOptions = { passphrase: secretSource(ctx, NODE_PASSPHRASE) }
  const tpm = tpmSpec(ctx)
  if (tpm) u.tpm = tpm
  if (o.recovery) u.recovery = secretSource(ctx, RECOVERY_CODE)
  return u
}

/** `--tpm-pcrs 7,16` → [7, 16] (undefined when not given). */
export function pcrsFlag(ctx: Ctx): number[] | undefined {
  const v = ctx.value('tpm-pcrs')
  if (v === undefined) return undefined
  const list = v.split(',').map((s) => s.trim())
  if (list.some((s) => !/^\d{1,2}$/.test(s) || Number(s) > 23))
    throw new UsageError(`--tpm-pcrs takes PCR numbers 0-23 separated by commas, not '${v}'`)
  return [...new Set(list.map(Number))].sort((a, b) => a - b)
}

/**
 * Show a new recovery code once, framed, on stderr (stdout keeps the
 * command's result; with --json the code is also in the JSON object).
 */
export function showRecoveryCode(ctx: Ctx, code: string, pcrs: number[]): void {
  const bound = pcrs.length ? `bound to PCR ${pcrs.join(',')}` : 'sealed'
  const lines = [
    'RECOVERY CODE (shown once; store it offline, e.g. on paper):',
    '',
    `    ${code}`,
    '',
    `The node key is ${bound} in the TPM. If the TPM refuses it (firmware or`,
    'boot change, new TPM), this code gets it back: bt key recover.',
  ]
  const w = Math.max(...lines.map((l) => l.length))
  const bar = `+${'-'.repeat(w + 2)}+`
  ctx.io.stderr.write(`${[bar, ...lines.map((l) => `| ${l.padEnd(w)} |`), bar].join('\n')}\n`)
}
