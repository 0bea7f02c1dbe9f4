/** Probing for a TPM: does the device open and answer GetRandom? Used to pick the default protection. */
import { openTpm } from './seal.js'
import { resolveTpmSpec } from './transport.js'

/** Is there a working TPM at `spec` (default `$BT_TPM`, else `/dev/tpmrm0`)? Never throws. */
export async function detectTpm(
  spec?: string,
  timeoutMs = 3000,
): Promise<{ present: boolean; spec: string; reason?: string }> {
  const resolved = resolveTpmSpec(spec)
  try {
    const c = await openTpm({ tpm: resolved, timeoutMs })
    try {
      await c.getRandom(8)
    } finally {
      await c.close()
    }
    return { present: true, spec: resolved }
  } catch (e) {
    return { present: false, spec: resolved, reason: (e as Error).message }
  }
}

/** The protection `bt init` uses when not told: `tpm` when a TPM answers, else `passphrase`. */
export async function defaultProtection(spec?: string): Promise<'tpm' | 'passphrase'> {
  return (await detectTpm(spec)).present ? 'tpm' : 'passphrase'
}
