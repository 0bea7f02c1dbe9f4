/**
 * Where the passphrase comes from: `BT_PASSPHRASE`, else a prompt on the
 * terminal (echo off) when stdin is one. Without either, the node reports
 * that none was given.
 */
import type { ReadStream } from 'node:tty'

/** Read one line from the terminal without echoing it. */
export function promptHidden(
  prompt: string,
  stdin: ReadStream,
  stderr: NodeJS.WritableStream,
): Promise<string> {
  return new Promise((resolve, reject) => {
    stderr.write(prompt)
    stdin.setRawMode(true)
    stdin.resume()
    let text = ''
    const done = (err?: Error) => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.off('data', onData)
      stderr.write('\n')
      if (err) reject(err)
      else resolve(text)
    }
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done()
        if (ch === '\u0003') return done(new Error('interrupted'))
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1)
        else text += ch
      }
    }
    stdin.on('data', onData)
  })
}

/**
 * A passphrase source for tpm/ (`confirm`: ask twice, for a new key), or
 * undefined when there is neither BT_PASSPHRASE nor a terminal.
 */
export function passphraseSource(
  env: NodeJS.ProcessEnv,
  confirm = false,
): (() => Promise<string>) | undefined {
  const fromEnv = env.BT_PASSPHRASE
  if (fromEnv !== undefined) return async () => fromEnv
  const stdin = process.stdin as ReadStream
  if (!stdin.isTTY) return undefined
  return async () => {
    const first = await promptHidden('bt: passphrase for the node key: ', stdin, process.stderr)
    if (confirm && (await promptHidden('bt: again, to confirm: ', stdin, process.stderr)) !== first)
      throw new Error('the two passphrases differ')
    return first
  }
}
