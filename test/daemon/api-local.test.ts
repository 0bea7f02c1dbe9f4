import { openLocalNode } from '../../node/local-node.js'
import { apiSuite } from './api-suite.js'

apiSuite('LocalNode in process', (home) => openLocalNode({ home }))
