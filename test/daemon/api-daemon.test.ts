import { openApi } from '../../node/daemon/index.js'
import { apiSuite } from './api-suite.js'
import { startDaemon } from './helpers.js'

apiSuite('through a daemon (RemoteApi over the Unix socket)', async (home, t) => {
  await startDaemon(t, home)
  const api = await openApi({ home })
  if (!api.remote) throw new Error('openApi did not reach the daemon')
  return api
})
