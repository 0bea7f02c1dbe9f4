import { join } from 'node:path'
import { createContentStore, openStoreDatabase, SqliteChunkBackend } from '../../store/index.js'
import { tmpDir } from '../helpers/tmp.js'
import { runContentStoreAcceptance } from './acceptance.js'

runContentStoreAcceptance('sqlite', (t) => {
  const db = openStoreDatabase(join(tmpDir(t, 'bt-store-'), 'tree.db'))
  const backend = new SqliteChunkBackend(db, { ownsDatabase: true })
  t.after(() => backend.close())
  return { backend, open: (options) => createContentStore(backend, options) }
})
