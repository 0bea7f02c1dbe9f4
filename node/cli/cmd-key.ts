/**
 * `bt init` (the node key's protection) and `bt key rotate|export|import|
 * recover|passwd|status`: the CLI over node/identity.ts and node/keys.ts.
 * Every key command but `status` needs the node stopped (it takes the data
 * dir's lock). Secrets come from the environment or a hidden prompt
 * (key-input.ts); formats and the threat model: docs/KEYS.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ProtectOptions } from '../../tpm/types.js'
import type { KeyProtection } from '../api-types.js'
import { HOME_FILES } from '../home.js'
import { NodeError } from '../node-error.js'
import { UsageError } from './args.js'
import type { Command } from './commands.js'
import { CliError, type Ctx } from './context.js'
import {
  BACKUP_PASSPHRASE,
  canAsk,
  NEW_PASSPHRASE,
  NODE_PASSPHRASE,
  pcrsFlag,
  RECOVERY_CODE,
  secretSource,
  showRecoveryCode,
  tpmSpec,
  unlockOptions,
} from './key-input.js'
import { localError } from './report.js'

const PROTECTIONS: KeyProtection[] = ['none', 'passphrase', 'tpm']

function protectionFlag(ctx: Ctx): KeyProtection | undefined {
  const v = ctx.value('key-protection')
  if (v !== undefined && !PROTECTIONS.includes(v as KeyProtection))
    throw new UsageError(`--key-protection must be tpm, passphrase or none, not '${v}'`)
  return v as KeyProtection | undefined
}

/** `--key-protection`, checked against `--tpm-pcrs` (usage errors come before anything else). */
function checkedProtection(ctx: Ctx, pcrs: number[] | undefined): KeyProtection | undefined {
  const chosen = protectionFlag(ctx)
  if (pcrs && chosen !== undefined && chosen !== 'tpm')
    throw new UsageError('--tpm-pcrs binds a TPM seal: it needs --key-protection tpm')
  return chosen
}

/**
 * The protection a new key gets: `--key-protection`, else tpm when
 * `--tpm-pcrs` is given, else tpm when a TPM answers at the spec, else passphrase.
 */
async function chooseProtection(ctx: Ctx, pcrs: number[] | undefined): Promise<KeyProtection> {
  const chosen = checkedProtection(ctx, pcrs)
  if (chosen) return chosen
  if (pcrs) return 'tpm'
  const { detectTpm } = await import('../../tpm/detect.js')
  const spec = tpmSpec(ctx)
  const found = await detectTpm(spec)
  // The user named a TPM that does not answer: say why the key gets a passphrase instead.
  if (!found.present && spec)
    ctx.note(`bt: ${ctx.cmd}: no TPM at ${spec} (${found.reason}); using a passphrase`)
  return found.present ? 'tpm' : 'passphrase'
}

/** Protection options for a new key; `code` is the recovery code made for a PCR-bound seal. */
async function newProtection(
  ctx: Ctx,
  protection: KeyProtection,
  pcrs: number[],
  o: { passphrase?: () => Promise<string>; recovery?: boolean } = {},
): Promise<{ protect: ProtectOptions; code?: string }> {
  const protect: ProtectOptions = { protection }
  // Without a source tpm/ reports the missing passphrase itself, as every command does.
  if (protection === 'passphrase' && (o.passphrase || canAsk(ctx, NODE_PASSPHRASE)))
    protect.passphrase = o.passphrase ?? secretSource(ctx, { ...NODE_PASSPHRASE, confirm: true })
  if (protection !== 'tpm') return { protect }
  const tpm = tpmSpec(ctx)
  if (tpm) protect.tpm = tpm
  if (pcrs.length) protect.pcrs = pcrs
  if (!pcrs.length && !o.recovery) return { protect }
  const { newRecoveryCode } = await import('../../tpm/passphrase.js')
  const code = newRecoveryCode()
  protect.recovery = async () => code
  return { protect, code }
}

/** The key commands rewrite the key file: not while a daemon holds it open. */
async function ensureStopped(ctx: Ctx): Promise<void> {
  const { daemonInfo } = await import('../daemon/control.js')
  const info = await daemonInfo(ctx.home)
  if (info)
    throw new NodeError(
      'ELOCKED',
      ctx.home,
      `a node is running for this data dir (pid ${info.pid}); stop the node first (bt down)`,
    )
}

async function readKey(ctx: Ctx) {
  const { readKeyFile } = await import('../identity.js')
  return readKeyFile(ctx.home)
}

async function report(
  ctx: Ctx,
  r: { nodeId: string; protection: KeyProtection; warning?: string },
  extra: Record<string, unknown>,
  code: string | undefined,
  pcrs: number[],
): Promise<void> {
  if (ctx.json)
    await ctx.outJson({
      nodeId: r.nodeId,
      home: ctx.home,
      keyProtection: r.protection,
      ...extra,
      ...(code ? { recoveryCode: code } : {}),
    })
  else await ctx.out(r.nodeId)
  if (code) showRecoveryCode(ctx, code, pcrs)
  if (r.warning) ctx.warn(undefined, `warning: ${r.warning}`)
}

export async function runInit(ctx: Ctx): Promise<number> {
  const pcrs = pcrsFlag(ctx)
  checkedProtection(ctx, pcrs)
  // Before anything is asked (initNode checks again under the lock).
  if (existsSync(join(ctx.home, HOME_FILES.identity))) {
    const id = await readKey(ctx).then(
      (f) => ` (node ${f.nodeId})`,
      () => '',
    )
    throw new NodeError('EINITIALIZED', ctx.home, `already initialised${id}`)
  }
  const protection = await chooseProtection(ctx, pcrs)
  const { protect, code } = await newProtection(ctx, protection, pcrs ?? [])
  mkdirSync(ctx.home, { recursive: true, mode: 0o700 })
  const { initNode } = await import('../identity.js')
  const r = await initNode({ home: ctx.home, protection, protect })
  await report(ctx, r, {}, code, pcrs ?? [])
  return 0
}

export async function runKeyRotate(ctx: Ctx): Promise<number> {
  await ensureStopped(ctx)
  const file = await readKey(ctx)
  const protection = protectionFlag(ctx) ?? file.protection
  let pcrs = pcrsFlag(ctx)
  if (pcrs && protection !== 'tpm')
    throw new UsageError('--tpm-pcrs binds a TPM seal: it needs tpm protection')
  const sealed = file.protection === 'tpm' ? file.secret : undefined
  pcrs ??= protection === 'tpm' && Array.isArray(sealed?.pcrs) ? (sealed.pcrs as number[]) : []
  const unlock = unlockOptions(ctx)
  // The recovery copy holds the whole master secret, which rotation changes: a kept copy gets a new code.
  const { protect, code } = await newProtection(ctx, protection, pcrs, {
    ...(file.protection === 'passphrase' && unlock.passphrase ? { passphrase: unlock.passphrase } : {}),
    recovery: sealed?.recovery !== undefined,
  })
  const { rotateKey } = await import('../keys.js')
  const r = await rotateKey({ home: ctx.home, unlock, protect })
  ctx.note(
    `bt: key rotate: new wrap key, ${r.rewrapped} tree key(s) re-wrapped; the node id stays. ` +
      'Backups made before now no longer open these trees: bt key export again.',
  )
  await report(ctx, r, { rewrapped: r.rewrapped }, code, pcrs)
  return 0
}

export async function runKeyExport(ctx: Ctx): Promise<number> {
  await ensureStopped(ctx)
  const target = ctx.positionals[0] ?? '-'
  if (target !== '-' && existsSync(target) && !ctx.flag('force'))
    throw new CliError(target, 'File exists (bt key export never overwrites a file without --force)')
  await readKey(ctx) // ENOTINIT before any prompt
  const backup = await secretSource(ctx, { ...BACKUP_PASSPHRASE, confirm: true })()
  const { exportKey } = await import('../keys.js')
  const text = await exportKey({ home: ctx.home, unlock: unlockOptions(ctx), passphrase: backup })
  if (target === '-') {
    await ctx.write(text)
    return 0
  }
  try {
    if (ctx.flag('force')) {
      const { writeAtomic } = await import('../identity.js')
      writeAtomic(target, text)
    } else writeFileSync(target, text, { flag: 'wx', mode: 0o600 })
  } catch (e) {
    throw localError(target, e)
  }
  if (ctx.json) await ctx.outJson({ file: target })
  ctx.note(`bt: key export: encrypted backup written to ${target}; keep it apart from its passphrase`)
  return 0
}

export async function runKeyImport(ctx: Ctx): Promise<number> {
  await ensureStopped(ctx)
  const source = ctx.positionals[0]!
  if (existsSync(join(ctx.home, HOME_FILES.identity)))
    throw new NodeError(
      'EINITIALIZED',
      ctx.home,
      'this data dir already has a node key; import into a new data dir (--home DIR)',
    )
  let blob: string
  try {
    blob = source === '-' ? await readAll(ctx) : readFileSync(source, 'utf8')
  } catch (e) {
    throw localError(source, e)
  }
  const pcrs = pcrsFlag(ctx)
  const protection = await chooseProtection(ctx, pcrs)
  const { protect, code } = await newProtection(ctx, protection, pcrs ?? [])
  const passphrase = await secretSource(ctx, BACKUP_PASSPHRASE)()
  mkdirSync(ctx.home, { recursive: true, mode: 0o700 })
  const { importKey } = await import('../keys.js')
  const r = await importKey({ home: ctx.home, backup: blob, passphrase, protect })
  await report(ctx, r, {}, code, pcrs ?? [])
  return 0
}

export async function runKeyRecover(ctx: Ctx): Promise<number> {
  await ensureStopped(ctx)
  const file = await readKey(ctx)
  if (file.protection !== 'tpm')
    throw new CliError(
      undefined,
      `the node key is protected by ${file.protection}, not a TPM: nothing to recover`,
    )
  if (!file.secret.recovery)
    throw new CliError(
      undefined,
      'this key was sealed without a recovery copy; restore a backup instead (bt key import into a new data dir)',
    )
  const pcrs = pcrsFlag(ctx)
  const tpm = tpmSpec(ctx)
  const unlock = { recovery: secretSource(ctx, RECOVERY_CODE), ...(tpm ? { tpm } : {}) }
  const { reprotectKey } = await import('../keys.js')
  const r = await reprotectKey({
    home: ctx.home,
    unlock,
    protect: { ...(tpm ? { tpm } : {}), ...(pcrs ? { pcrs } : {}) },
  })
  const now = (await readKey(ctx)).secret.pcrs as number[] | undefined
  ctx.note(
    `bt: key recover: the key is sealed again${now?.length ? ` to the current values of PCR ${now.join(',')}` : ''}; the recovery code stays the same`,
  )
  await report(ctx, r, {}, undefined, [])
  return 0
}

export async function runKeyPasswd(ctx: Ctx): Promise<number> {
  await ensureStopped(ctx)
  const file = await readKey(ctx)
  if (file.protection !== 'passphrase')
    throw new CliError(
      undefined,
      `the node key is protected by ${file.protection}, not a passphrase (to switch: bt key rotate --key-protection passphrase)`,
    )
  const { reprotectKey } = await import('../keys.js')
  const r = await reprotectKey({
    home: ctx.home,
    unlock: { passphrase: secretSource(ctx, NODE_PASSPHRASE) },
    protect: { protection: 'passphrase', passphrase: secretSource(ctx, NEW_PASSPHRASE) },
  })
  ctx.note('bt: key passwd: the node key has a new passphrase')
  await report(ctx, r, {}, undefined, [])
  return 0
}

export async function runKeyStatus(ctx: Ctx): Promise<number> {
  const file = await readKey(ctx)
  const s = file.secret
  const { resolveTpmSpec } = await import('../../tpm/transport.js')
  const status = {
    nodeId: file.nodeId,
    keyProtection: file.protection,
    created: new Date(file.created).toISOString(),
    tpm: file.protection === 'tpm' ? (tpmSpec(ctx) ?? resolveTpmSpec(undefined)) : null,
    pcrs: file.protection === 'tpm' && Array.isArray(s.pcrs) ? (s.pcrs as number[]) : [],
    recoveryCopy: file.protection === 'tpm' && s.recovery !== undefined,
    kdf: file.protection === 'passphrase' ? { name: s.kdf, logN: s.logN, r: s.r, p: s.p } : null,
    rotationPending: existsSync(join(ctx.home, `${HOME_FILES.identity}.next`)),
  }
  if (ctx.json) {
    await ctx.outJson(status)
    return 0
  }
  const lines: [string, string][] = [
    ['node id', status.nodeId],
    ['key', status.keyProtection === 'none' ? 'none (stored UNPROTECTED)' : status.keyProtection],
    ['created', status.created],
  ]
  if (status.tpm !== null) {
    lines.push(['tpm', status.tpm])
    lines.push(['pcrs', status.pcrs.length ? status.pcrs.join(',') : '(not bound)'])
    lines.push(['recovery', status.recoveryCopy ? 'yes (bt key recover)' : 'no'])
  }
  if (status.kdf) lines.push(['kdf', `scrypt N=2^${status.kdf.logN} r=${status.kdf.r} p=${status.kdf.p}`])
  if (status.rotationPending)
    lines.push(['rotation', 'interrupted; settled when the data dir is next opened'])
  for (const [k, v] of lines) await ctx.out(`${`${k}:`.padEnd(10)}${v}`)
  return 0
}

async function readAll(ctx: Ctx): Promise<string> {
  const parts: Buffer[] = []
  for await (const c of ctx.io.stdin) parts.push(Buffer.from(c as Uint8Array))
  return Buffer.concat(parts).toString('utf8')
}

const PROTECTION_FLAG = {
  name: 'key-protection',
  value: 'MODE',
  help: 'tpm, passphrase, or none (unprotected; only when asked for)',
}
const PCRS_FLAG = {
  name: 'tpm-pcrs',
  value: 'LIST',
  help: 'bind the TPM seal to these PCRs (e.g. 7 or 7,16); makes a recovery code, shown once',
}

/** `bt init` and the `bt key` commands, for the command table (commands.ts). */
export const KEY_COMMANDS: Command[] = [
  {
    name: 'key rotate',
    group: 'node',
    summary: 'new wrap key (tree keys re-wrapped), sealed again; the node id stays',
    usage: 'key rotate [--key-protection MODE] [--tpm-pcrs LIST]',
    args: [],
    flags: [PROTECTION_FLAG, PCRS_FLAG],
    description:
      'Makes a new key for wrapping tree keys, re-wraps every tree key (crash-safe) and protects the\n' +
      'result as before, or with another --key-protection / --tpm / --tpm-pcrs. A TPM seal with a\n' +
      'recovery copy gets a NEW recovery code (shown once); the old code no longer applies.\n' +
      'The passphrase comes from BT_PASSPHRASE or a prompt. The node must be stopped (bt down).',
    examples: [
      'bt key rotate',
      'bt key rotate --key-protection tpm --tpm-pcrs 7',
      'bt key rotate --key-protection passphrase',
    ],
    run: runKeyRotate,
  },
  {
    name: 'key export',
    group: 'node',
    summary: 'write an encrypted backup of the node key (FILE, or - for stdout)',
    usage: 'key export [FILE|-] [--force]',
    args: ['FILE?'],
    flags: [{ name: 'force', short: 'f', help: 'overwrite FILE if it exists' }],
    description:
      'The backup is the master secret encrypted under a backup passphrase (BT_BACKUP_PASSPHRASE, else\n' +
      'asked twice on the terminal). FILE is written with mode 0600 and never overwritten without\n' +
      '--force. Without FILE the backup goes to stdout. The node must be stopped (bt down).',
    examples: ['bt key export node-key.backup', 'bt key export -', 'bt key export --force node-key.backup'],
    run: runKeyExport,
  },
  {
    name: 'key import',
    group: 'node',
    summary: 'restore the node key from a backup into a data dir without one',
    usage: 'key import FILE [--key-protection MODE] [--tpm-pcrs LIST]',
    args: ['FILE'],
    flags: [PROTECTION_FLAG, PCRS_FLAG],
    description:
      'Reads a backup made by bt key export (FILE, or - for stdin; its passphrase from\n' +
      'BT_BACKUP_PASSPHRASE or a prompt) and protects it on this machine as --key-protection says\n' +
      '(default: the TPM when one answers, else a passphrase). The node id is the one backed up.',
    examples: [
      'bt --home ~/new-node key import node-key.backup',
      'bt key import node-key.backup --key-protection tpm --tpm-pcrs 7',
    ],
    run: runKeyImport,
  },
  {
    name: 'key recover',
    group: 'node',
    summary: 'seal the key again after the TPM refused it (PCR change, new TPM)',
    usage: 'key recover [--tpm DEVICE] [--tpm-pcrs LIST]',
    args: [],
    flags: [
      {
        name: 'tpm-pcrs',
        value: 'LIST',
        help: 'bind the new seal to these PCRs (default: the ones it was bound to)',
      },
    ],
    description:
      'When the TPM refuses the key (firmware or boot change altered a bound PCR, the TPM was replaced\n' +
      'or cleared), the recovery code shown by bt init (BT_RECOVERY_CODE, else a prompt) opens the\n' +
      'recovery copy and the key is sealed again to the current PCR values, or to the TPM --tpm names.\n' +
      'The node id and the recovery code stay the same.',
    examples: ['bt key recover', 'bt key recover --tpm /dev/tpmrm0 --tpm-pcrs 7'],
    run: runKeyRecover,
  },
  {
    name: 'key passwd',
    group: 'node',
    summary: 'change the passphrase of the node key',
    usage: 'key passwd',
    args: [],
    flags: [],
    description:
      'The current passphrase comes from BT_PASSPHRASE, the new one from BT_NEW_PASSPHRASE; either is\n' +
      'asked on the terminal when not set (the new one twice). The node must be stopped (bt down).',
    examples: ['bt key passwd'],
    run: runKeyPasswd,
  },
  {
    name: 'key status',
    group: 'node',
    summary: 'how the node key is protected (without unlocking it)',
    usage: 'key status',
    args: [],
    flags: [],
    description:
      'Reads the key file only: protection, TPM, bound PCRs, whether a recovery copy exists, KDF cost.',
    examples: ['bt key status', 'bt key status --json'],
    run: runKeyStatus,
  },
]

/** The flags of `bt init`. */
export const INIT_FLAGS = [PROTECTION_FLAG, PCRS_FLAG]
