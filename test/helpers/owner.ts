/**
 * Loaded into every test process by `npm test` (`node --test --import`):
 * every node a test starts with `bt up` inherits BT_EXIT_WITH_PID and stops
 * by itself once that test process has exited, even when the test process
 * was killed before its teardown could run `bt down`.
 */
// A file whose tests leave something running fails instead of hanging the run.
import './exit-watch.js'

process.env.BT_EXIT_WITH_PID = String(process.pid)
