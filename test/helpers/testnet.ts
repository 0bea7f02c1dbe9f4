import createTestnet from 'hyperdht/testnet.js'
import type { Teardown } from './tmp.js'

/** A local HyperDHT bootstrap network on 127.0.0.1 (hyperdht/testnet). */
export interface LocalTestnet {
  /** Bootstrap nodes as `HOST:PORT` (what `--bootstrap` takes). */
  bootstrap: string[]
  destroy(): Promise<void>
}

/**
 * Start `size` DHT nodes bound to 127.0.0.1 (nothing leaves the host),
 * destroyed when the test (or suite, given its hook) ends.
 */
export async function startTestnet(t: Teardown, size = 3): Promise<LocalTestnet> {
  const tn = await createTestnet(size, { host: '127.0.0.1' })
  let destroyed = false
  const destroy = async () => {
    if (destroyed) return
    destroyed = true
    await tn.destroy()
  }
  t.after(destroy)
  return { bootstrap: tn.bootstrap.map((b) => `${b.host}:${b.port}`), destroy }
}
