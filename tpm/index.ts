/** tpm/: credentials at rest: a TPM 2.0 client, sealing, the passphrase fallback. */
export { exportSecret, importSecret } from './backup.js'
export { type LoadedObject, type Primary, type Session, TpmClient } from './client.js'
export { defaultProtection, detectTpm } from './detect.js'
export {
  DEFAULT_KDF,
  type KdfParams,
  newRecoveryCode,
  normalizeRecoveryCode,
  type WrappedSecret,
} from './passphrase.js'
export { protectSecret, resealSecret, unprotectSecret } from './protect.js'
export { rcName } from './rc.js'
export { MAX_SEALED_BYTES, openTpm, type TpmRecord } from './seal.js'
export { openTransport, resolveTpmSpec, type TpmTransport } from './transport.js'
export * from './types.js'
