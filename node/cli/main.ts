#!/usr/bin/env node
/**
 * The `bt` command: parse the command line, run the command against the node
 * of the data dir (through the daemon when one runs), report errors as one
 * line on stderr. Exit status: 0 ok, 1 failure, 2 usage error.
 */
import { realpathSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { NodeApi } from '../api-types.js'
import { resolveHome } from '../home.js'
import { BT_VERSION } from '../version.js'
import { parseArgs } from './args.js'
import { lookupCommand } from './commands.js'
import { connect } from './connect.js'
import { Ctx, type Io, OutputClosed } from './context.js'
import { pendingTemps } from './get.js'
import { commandHelp, findCommand, groupHelp, mainHelp } from './help.js'
import { describeError } from './report.js'

/** Run `bt` with `argv` (no node/script); resolves to the exit status. */
export async function runCli(
  argv: string[],
  io: Io,
  open?: (home: string) => Promise<NodeApi>,
): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>
  try {
    // `bt help put` is `bt put --help`.
    if (argv[0] === 'help') argv = argv.length > 1 ? [...argv.slice(1), '--help'] : ['--help']
    parsed = parseArgs(argv, lookupCommand)
  } catch (e) {
    const r = describeError('help', e, undefined, io.env)
    io.stderr.write(`${r.line}\n`)
    return r.exit
  }
  if (parsed.version && parsed.command === 'help') {
    io.stdout.write(`bt ${BT_VERSION}\n`)
    return 0
  }
  if (parsed.command === 'help') {
    io.stdout.write(mainHelp())
    return 0
  }
  if (parsed.command === 'tree' || parsed.command === 'key') {
    io.stdout.write(groupHelp(parsed.command))
    return 0
  }
  const cmd = findCommand(parsed.command)!
  if (parsed.help) {
    io.stdout.write(commandHelp(cmd))
    return 0
  }
  if (parsed.version) {
    io.stdout.write(`bt ${BT_VERSION}\n`)
    return 0
  }
  const home = resolveHome(parsed.home, io.env)
  // --tpm is BT_TPM for this command (and what it opens: the node, a daemon it starts).
  const tpm = parsed.flags.get('tpm')
  const cmdIo = typeof tpm === 'string' ? { ...io, env: { ...io.env, BT_TPM: tpm } } : io
  const ctx = new Ctx(cmd.name, parsed, home, cmdIo, open ?? ((h) => connect(h, cmdIo.env)))
  let code: number
  try {
    code = await cmd.run(ctx)
  } catch (e) {
    code = fail(ctx, e)
  }
  try {
    await ctx.close()
  } catch (e) {
    if (code === 0) code = fail(ctx, e)
  }
  return code
}

function fail(ctx: Ctx, e: unknown): number {
  if (e instanceof OutputClosed) return 0
  const r = describeError(ctx.cmd, e, ctx.remote, ctx.io.env)
  ctx.io.stderr.write(`${r.line}\n`)
  return r.exit
}

function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    stderrTTY: process.stderr.isTTY === true,
    columns: process.stderr.columns || 80,
    env: process.env,
    now: () => Date.now(),
  }
}

/** Interrupted during put/get: remove temporary files, then die of the signal's status. */
function onSignal(signal: NodeJS.Signals, code: number): void {
  process.once(signal, () => {
    for (const t of pendingTemps) rmSync(t, { force: true })
    process.exit(code)
  })
}

const isEntry = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
})()

if (isEntry) {
  const argv = process.argv.slice(2)
  if (argv.includes('get') || argv.includes('put')) {
    onSignal('SIGINT', 130)
    onSignal('SIGTERM', 143)
  }
  runCli(argv, processIo()).then(
    (code) => {
      process.exitCode = code
    },
    (e) => {
      process.stderr.write(`bt: internal error: ${(e as Error).message}\n`)
      process.exitCode = 1
    },
  )
}
