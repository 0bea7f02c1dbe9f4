/**
 * The ContentStore acceptance suite, run against every ChunkBackend
 * (test/store/sqlite.test.ts, test/store/memory.test.ts) so the in-memory
 * backend cannot drift from the real one.
 */
import { describe } from 'node:test'
import { dataTests } from './acceptance-data.js'
import type { MakeHarness } from './acceptance-helpers.js'
import { referenceTests } from './acceptance-refs.js'

export type { MakeHarness, StoreHarness } from './acceptance-helpers.js'

export function runContentStoreAcceptance(name: string, make: MakeHarness): void {
  describe(`ContentStore acceptance: ${name}`, () => {
    dataTests(make)
    referenceTests(make)
  })
}
