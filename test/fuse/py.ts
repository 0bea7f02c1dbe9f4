/**
 * Python 3 snippets run against a mount in a child process (this process
 * serves the mount: touching it synchronously from here would deadlock).
 * `PRELUDE` gives each script `errno_of(fn)` and `expect(code, fn)`.
 */
import type { Volume } from '../../node/volume-types.js'
import { py } from '../helpers/fuse.js'

const PRELUDE = `
import errno, os, stat, sys
def errno_of(fn, *a):
    try:
        fn(*a)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    return 'OK'
def expect(code, fn, *a):
    got = errno_of(fn, *a)
    assert got == code, f'{getattr(fn, "__name__", fn)}{a}: expected {code}, got {got}'
def read(p):
    with open(p, 'rb') as f:
        return f.read()
def write(p, data, mode='wb'):
    with open(p, mode) as f:
        f.write(data)
def checkpoint(name):
    # Let the test look at the volume from its side (see \`checkpoint\` in py.ts), then go on.
    import time
    write(name + '.ready', b'')
    while not os.path.exists(name + '.go'):
        time.sleep(0.01)
    os.unlink(name + '.ready'); os.unlink(name + '.go')
`

/** Run `body` (Python, 0-indented) with the prelude, cwd = `dir`; returns its stdout. */
export function pyIn(dir: string, body: string, timeoutMs = 60_000): Promise<string> {
  return py(`${PRELUDE}\nos.chdir(${JSON.stringify(dir)})\n${body}\nprint('done')\n`, { timeoutMs })
}

/**
 * The test's side of a script's \`checkpoint(name)\` (in the mount's root): wait
 * until the script reaches it, run \`check\` (looking at the volume directly,
 * as the CLI would), then let the script go on.
 */
export async function checkpoint(volume: Volume, name: string, check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      await volume.lookup(`/${name}.ready`)
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`the script never reached checkpoint ${name}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  await check()
  await volume.writeFile(`/${name}.go`, new Uint8Array(0))
}
