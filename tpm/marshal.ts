/**
 * Big-endian marshalling of TPM 2.0 structures (TPM 2.0 Part 2). `Writer`
 * grows as it goes; `Reader` checks every read against what the TPM sent and
 * throws TpmError('EPROTO') past the end, so a truncated or malformed
 * response becomes a clear error rather than garbage or a crash.
 */
import { TpmError } from './types.js'

export class Writer {
  private buf = Buffer.alloc(256)
  private len = 0

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n))
    this.buf.copy(next, 0, 0, this.len)
    this.buf = next
  }

  u8(v: number): this {
    this.room(1)
    this.buf.writeUInt8(v, this.len)
    this.len += 1
    return this
  }

  u16(v: number): this {
    this.room(2)
    this.buf.writeUInt16BE(v, this.len)
    this.len += 2
    return this
  }

  u32(v: number): this {
    this.room(4)
    this.buf.writeUInt32BE(v >>> 0, this.len)
    this.len += 4
    return this
  }

  bytes(b: Uint8Array): this {
    this.room(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
    return this
  }

  /** A TPM2B: u16 size, then the bytes. */
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError('TPM2B larger than 65535 bytes')
    return this.u16(b.length).bytes(b)
  }

  get length(): number {
    return this.len
  }

  /** A copy of what was written. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len))
  }
}

export class Reader {
  private pos = 0
  constructor(
    private readonly buf: Uint8Array,
    /** What is being parsed, for the error message. */
    private readonly what = 'TPM response',
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length)
      throw new TpmError(
        'EPROTO',
        `${this.what} is truncated (needs ${this.pos + n} bytes, has ${this.buf.length})`,
      )
  }

  u8(): number {
    this.need(1)
    return this.buf[this.pos++] as number
  }

  u16(): number {
    this.need(2)
    const v = ((this.buf[this.pos] as number) << 8) | (this.buf[this.pos + 1] as number)
    this.pos += 2
    return v
  }

  u32(): number {
    this.need(4)
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 4).readUInt32BE(0)
    this.pos += 4
    return v
  }

  bytes(n: number): Uint8Array {
    this.need(n)
    const v = new Uint8Array(this.buf.subarray(this.pos, this.pos + n))
    this.pos += n
    return v
  }

  tpm2b(): Uint8Array {
    return this.bytes(this.u16())
  }

  get offset(): number {
    return this.pos
  }

  get remaining(): number {
    return this.buf.length - this.pos
  }

  /** Everything not read yet. */
  rest(): Uint8Array {
    return this.bytes(this.remaining)
  }

  /** Throws EPROTO when bytes are left over (a structure was longer than its fields). */
  end(): void {
    if (this.pos !== this.buf.length)
      throw new TpmError('EPROTO', `${this.what} has ${this.buf.length - this.pos} unexpected trailing bytes`)
  }
}
