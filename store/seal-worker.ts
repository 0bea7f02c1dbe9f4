/**
 * Worker thread of `SealWorker` (seal-pool.ts): FastCDC chunking, sealing
 * and chunk ids of streamed writes, off the thread that serves the
 * filesystem. The same `Chunker` and `ChunkCipher` as the in-process path, so
 * the chunks (and the FileRef built from them) are identical.
 *
 * Messages in: `{ t: 'open', s, key }`, `{ t: 'push', s, piece }` (the
 * piece's buffer is transferred), `{ t: 'end', s }`, `{ t: 'close', s }`.
 * Out: `{ s, ids, lens, sealed, plain, end? }` per push or end (sealed
 * buffers transferred; `plain` = plaintext bytes of the input consumed), or
 * `{ s, error }`.
 */
import { parentPort } from 'node:worker_threads'
import { ChunkCipher, chunkIdOf } from './crypto.js'
import { Chunker } from './fastcdc.js'

interface Stream {
  chunker: Chunker
  cipher: ChunkCipher
}

type In =
  | { t: 'open'; s: number; key: Uint8Array }
  | { t: 'push'; s: number; piece: Uint8Array }
  | { t: 'end'; s: number }
  | { t: 'close'; s: number }

const port = parentPort
if (!port) throw new Error('seal-worker runs as a worker thread')

const streams = new Map<number, Stream>()
/** One cipher per key: deriving its keys per stream would cost more than a small write. */
const ciphers = new Map<string, ChunkCipher>()

function seal(st: Stream, s: number, chunks: Iterable<Uint8Array>, plain: number, end: boolean): void {
  const ids: string[] = []
  const lens: number[] = []
  const sealed: Uint8Array[] = []
  for (const c of chunks) {
    const data = st.cipher.seal(c)
    ids.push(chunkIdOf(data))
    lens.push(c.length)
    sealed.push(data)
  }
  // Sealed chunks of 16 KiB and more own their ArrayBuffer (Buffer.concat does not pool them);
  // smaller ones (only a file's last chunk) share the pool and are copied by the clone.
  const transfer = sealed
    .filter((d) => d.byteOffset === 0 && d.byteLength === d.buffer.byteLength)
    .map((d) => d.buffer as ArrayBuffer)
  port!.postMessage({ s, ids, lens, sealed, plain, end }, transfer)
}

port.on('message', (m: In) => {
  try {
    if (m.t === 'open') {
      const hex = Buffer.from(m.key).toString('hex')
      let cipher = ciphers.get(hex)
      if (!cipher) {
        cipher = new ChunkCipher(m.key)
        ciphers.set(hex, cipher)
      }
      streams.set(m.s, { chunker: new Chunker(), cipher })
      return
    }
    const st = streams.get(m.s)
    if (!st) return // closed meanwhile (an aborted write)
    if (m.t === 'push') seal(st, m.s, st.chunker.push(m.piece), m.piece.length, false)
    else if (m.t === 'end') {
      seal(st, m.s, st.chunker.finish(), 0, true)
      streams.delete(m.s)
    } else streams.delete(m.s)
  } catch (e) {
    streams.delete(m.s)
    port!.postMessage({ s: m.s, error: e instanceof Error ? e.message : String(e) })
  }
})
