/** tpm/: credentials at rest: a TPM 2.0 client, sealing, the passphrase fallback. */
export { protectSecret, unprotectSecret } from './protect.js'
export * from './types.js'
