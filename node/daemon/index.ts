/**
 * The daemon and the local API (docs/LOCAL-API.md): `bt up` serves the node
 * on a Unix socket; every other `bt` command reaches it with `openApi`.
 */
export { RemoteApi } from './client.js'
export { ClientConnection, type ServerHello } from './connection.js'
export {
  alreadyRunning,
  BT_ENTRY,
  daemonInfo,
  isAlive,
  type StartDetachedOptions,
  startDetached,
  stopDaemon,
} from './control.js'
export {
  type DaemonFile,
  readDaemonFile,
  SOCKET_PATH_MAX,
  socketPathFor,
} from './daemon-file.js'
export { FrameType, MAX_DATA, MAX_FRAME, PROTOCOL_VERSION } from './frames.js'
export { METHODS, type Method } from './methods.js'
export { type OpenApiOptions, type OpenedApi, openApi } from './open-api.js'
export { type RunDaemonOptions, runDaemon } from './run.js'
export { ApiServer, type ApiServerOptions } from './server.js'
export { fromWire, toWire, type WireError } from './wire-errors.js'
