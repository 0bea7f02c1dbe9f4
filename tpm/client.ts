/**
 * A small TPM 2.0 client: the commands sealing needs, with salted,
 * parameter-encrypted HMAC and policy sessions (Part 1, 19 and 21), over any
 * `TpmTransport`. Without a resource manager (swtpm) every loaded context
 * must be flushed: callers use `flush` in `finally`.
 */
import { createECDH, randomBytes } from 'node:crypto'
import { ALG, CC, ECC_NIST_P256, RH, SE, SESSION_ATTR, SHA256_SIZE, ST, SU_CLEAR } from './constants.js'
import { cfb, hmacSha256, kdfa, kdfe, sha256 } from './kdf.js'
import { Reader, Writer } from './marshal.js'
import { RC_INITIALIZE, RC_RETRYABLE, rcName } from './rc.js'
import { objectName, parsePublic, pcrSelection, readPcrSelection } from './structures.js'
import { openTransport, type TpmTransport, type TransportOptions } from './transport.js'
import { TpmError } from './types.js'

/** Source of random bytes (nonces, ephemeral keys); default crypto.randomBytes. */
export type RandomFn = (n: number) => Uint8Array

/** A loaded object: its handle and name (what cpHash covers). */
export interface LoadedObject {
  handle: number
  name: Uint8Array
}

/** A loaded primary key with its public area. */
export interface Primary extends LoadedObject {
  publicArea: Uint8Array
}

/** An authorization session the caller started (HMAC or policy). */
export interface Session {
  readonly handle: number
  readonly type: number
  /** KDFa(salt, "ATH", ...): keys the HMACs and parameter encryption. */
  readonly sessionKey: Uint8Array
  nonceTPM: Uint8Array
}

/** How a command uses a session: its attributes and the authValue of the entity it authorizes. */
interface Auth {
  session: Session | 'password'
  attrs: number
  authValue?: Uint8Array
}

interface Response {
  handles: number[]
  params: Uint8Array
}

export class TpmClient {
  private constructor(
    readonly transport: TpmTransport,
    private readonly random: RandomFn,
  ) {}

  /** Open a TPM by spec (`/dev/tpmrm0`, `swtpm:HOST:PORT`, `unix:PATH`). */
  static async open(spec: string, o: TransportOptions & { random?: RandomFn } = {}): Promise<TpmClient> {
    const transport = await openTransport(spec, o)
    return new TpmClient(transport, o.random ?? ((n) => randomBytes(n)))
  }

  /** A client over an already open transport (tests, fakes). */
  static over(transport: TpmTransport, random?: RandomFn): TpmClient {
    return new TpmClient(transport, random ?? ((n) => randomBytes(n)))
  }

  get label(): string {
    return this.transport.label
  }

  close(): Promise<void> {
    return this.transport.close()
  }

  /**
   * Send one command; throws TpmError('ETPM', rc) on an error response.
   * Warnings that ask for a retry (RETRY, YIELDED, TESTING) are retried a few
   * times with fresh caller nonces; a failed command leaves session state as it was.
   */
  private async run(
    cc: number,
    handles: LoadedObject[],
    auths: Auth[],
    params: Uint8Array,
    responseHandles = 0,
  ): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.runOnce(cc, handles, auths, params, responseHandles)
      } catch (e) {
        if (!(e instanceof TpmError && e.rc !== undefined && RC_RETRYABLE.has(e.rc)) || attempt >= 5) throw e
        await new Promise((resolve) => setTimeout(resolve, 5 * attempt))
      }
    }
  }

  private async runOnce(
    cc: number,
    handles: LoadedObject[],
    auths: Auth[],
    params: Uint8Array,
    responseHandles = 0,
  ): Promise<Response> {
    const ccBytes = new Writer().u32(cc).finish()
    let body = Buffer.from(params)
    const nonces: Uint8Array[] = []
    // Parameter encryption first: cpHash covers the encrypted form.
    for (const [i, a] of auths.entries()) {
      const nonce = a.session === 'password' ? new Uint8Array(0) : this.random(SHA256_SIZE)
      nonces[i] = nonce
      if (a.session !== 'password' && a.attrs & SESSION_ATTR.decrypt) {
        const size = body.readUInt16BE(0)
        const enc = cfb(true, sessionValue(a), nonce, a.session.nonceTPM, body.subarray(2, 2 + size))
        body = Buffer.concat([body.subarray(0, 2), enc, body.subarray(2 + size)])
      }
    }
    const cpHash = auths.some((a) => a.session !== 'password')
      ? sha256(ccBytes, ...handles.map((h) => h.name), body)
      : undefined
    const w = new Writer()
    w.u16(auths.length ? ST.SESSIONS : ST.NO_SESSIONS)
      .u32(0)
      .u32(cc)
    for (const h of handles) w.u32(h.handle)
    if (auths.length) {
      const area = new Writer()
      for (const [i, a] of auths.entries()) {
        const nonce = nonces[i] as Uint8Array
        if (a.session === 'password') {
          area
            .u32(RH.PW)
            .tpm2b(nonce)
            .u8(0)
            .tpm2b(a.authValue ?? new Uint8Array(0))
        } else {
          const s = a.session
          const mac = hmacSha256(
            sessionValue(a),
            cpHash as Buffer,
            nonce,
            s.nonceTPM,
            new Uint8Array([a.attrs]),
          )
          area.u32(s.handle).tpm2b(nonce).u8(a.attrs).tpm2b(mac)
        }
      }
      w.u32(area.length).bytes(area.finish())
    }
    w.bytes(body)
    const cmd = w.finish()
    cmd.writeUInt32BE(cmd.length, 2)

    const raw = await this.transport.transmit(cmd)
    const r = new Reader(raw, `response to command 0x${cc.toString(16)}`)
    const tag = r.u16()
    const size = r.u32()
    const rc = r.u32()
    if (size !== raw.length)
      throw new TpmError(
        'EPROTO',
        `${this.label}: response size field ${size} != ${raw.length} bytes received`,
      )
    if (rc !== 0) {
      if (tag !== ST.NO_SESSIONS || size !== 10)
        throw new TpmError('EPROTO', `${this.label}: malformed error response (${rcName(rc)})`)
      throw new TpmError('ETPM', `TPM ${this.label} refused the command: ${rcName(rc)}`, rc)
    }
    if (tag !== (auths.length ? ST.SESSIONS : ST.NO_SESSIONS))
      throw new TpmError('EPROTO', `${this.label}: unexpected response tag 0x${tag.toString(16)}`)
    const outHandles: number[] = []
    for (let i = 0; i < responseHandles; i++) outHandles.push(r.u32())
    if (!auths.length) return { handles: outHandles, params: r.rest() }

    const paramSize = r.u32()
    let out = Buffer.from(r.bytes(paramSize))
    const rpHash = auths.some((a) => a.session !== 'password')
      ? sha256(new Uint8Array(4), ccBytes, out)
      : undefined
    for (const [i, a] of auths.entries()) {
      const nonceTPM = r.tpm2b()
      const attrs = r.u8()
      const mac = r.tpm2b()
      if (a.session === 'password') continue
      const s = a.session
      const expect = hmacSha256(
        sessionValue(a),
        rpHash as Buffer,
        nonceTPM,
        nonces[i] as Uint8Array,
        new Uint8Array([attrs]),
      )
      if (!expect.equals(mac))
        throw new TpmError(
          'EPROTO',
          `${this.label}: response HMAC does not verify (tampered or wrong session key)`,
        )
      s.nonceTPM = nonceTPM
      if (a.attrs & SESSION_ATTR.encrypt) {
        const n = out.readUInt16BE(0)
        if (n + 2 > out.length)
          throw new TpmError('EPROTO', `${this.label}: encrypted parameter overruns the response`)
        const dec = cfb(false, sessionValue(a), nonceTPM, nonces[i] as Uint8Array, out.subarray(2, 2 + n))
        out = Buffer.concat([out.subarray(0, 2), dec, out.subarray(2 + n)])
      }
    }
    r.end()
    return { handles: outHandles, params: out }
  }

  /** TPM2_Startup(CLEAR); a TPM that is already started is fine. */
  async startup(): Promise<void> {
    try {
      await this.run(CC.Startup, [], [], new Writer().u16(SU_CLEAR).finish())
    } catch (e) {
      if (!(e instanceof TpmError && e.rc === RC_INITIALIZE)) throw e
    }
  }

  async getRandom(n: number): Promise<Uint8Array> {
    const { params } = await this.run(CC.GetRandom, [], [], new Writer().u16(n).finish())
    const r = new Reader(params, 'GetRandom response')
    const bytes = r.tpm2b()
    r.end()
    return bytes
  }

  /** TPM2_CreatePrimary under the owner hierarchy (empty owner auth). */
  async createPrimary(template: Uint8Array, ownerAuth?: Uint8Array): Promise<Primary> {
    const params = new Writer()
      .tpm2b(new Writer().tpm2b(new Uint8Array(0)).tpm2b(new Uint8Array(0)).finish())
      .tpm2b(template)
      .tpm2b(new Uint8Array(0))
      .u32(0)
      .finish()
    const owner = { handle: RH.OWNER, name: handleName(RH.OWNER) }
    const res = await this.run(
      CC.CreatePrimary,
      [owner],
      [{ session: 'password', attrs: 0, authValue: ownerAuth ?? new Uint8Array(0) }],
      params,
      1,
    )
    const r = new Reader(res.params, 'CreatePrimary response')
    const publicArea = r.tpm2b()
    r.tpm2b() // creationData
    r.tpm2b() // creationHash
    r.u16()
    r.u32()
    r.tpm2b() // creationTicket
    const name = r.tpm2b()
    r.end()
    const handle = res.handles[0] as number
    if (!Buffer.from(name).equals(objectName(publicArea))) {
      await this.flush(handle)
      throw new TpmError('EPROTO', `${this.label}: primary name does not match its public area`)
    }
    return { handle, name, publicArea }
  }

  /**
   * TPM2_StartAuthSession with a salt encrypted to `saltKey` (an ECC P-256
   * primary), AES-128-CFB parameter encryption and SHA-256. Without a salt
   * (trial sessions), the session key is empty.
   */
  async startSession(type: number, saltKey?: Primary): Promise<Session> {
    const nonceCaller = this.random(SHA256_SIZE)
    let salt: Uint8Array = new Uint8Array(0)
    let encryptedSalt: Uint8Array = new Uint8Array(0)
    if (saltKey) {
      const pub = parsePublic(saltKey.publicArea).ecc
      if (!pub || pub.curve !== ECC_NIST_P256)
        throw new TpmError('EPROTO', `${this.label}: salt key is not an ECC P-256 key`)
      const ecdh = createECDH('prime256v1')
      ecdh.setPrivateKey(Buffer.from(this.random(32)))
      const mine = ecdh.getPublicKey()
      const ex = mine.subarray(1, 33)
      const ey = mine.subarray(33, 65)
      let z: Buffer
      try {
        z = ecdh.computeSecret(Buffer.concat([Buffer.of(4), pub.x, pub.y]))
      } catch {
        throw new TpmError('EPROTO', `${this.label}: the primary's public point is invalid`)
      }
      salt = kdfe(z, 'SECRET', ex, pub.x, 256)
      encryptedSalt = new Writer().tpm2b(ex).tpm2b(ey).finish()
    }
    const params = new Writer()
      .tpm2b(nonceCaller)
      .tpm2b(encryptedSalt)
      .u8(type)
      .u16(ALG.AES)
      .u16(128)
      .u16(ALG.CFB)
      .u16(ALG.SHA256)
      .finish()
    const tpmKey = saltKey ?? { handle: RH.NULL, name: handleName(RH.NULL) }
    const bind = { handle: RH.NULL, name: handleName(RH.NULL) }
    const res = await this.run(CC.StartAuthSession, [tpmKey, bind], [], params, 1)
    const r = new Reader(res.params, 'StartAuthSession response')
    const nonceTPM = r.tpm2b()
    r.end()
    const sessionKey = salt.length ? kdfa(salt, 'ATH', nonceTPM, nonceCaller, 256) : new Uint8Array(0)
    return { handle: res.handles[0] as number, type, sessionKey, nonceTPM }
  }

  /** TPM2_Create of a sealed data object holding `data`, under `parent`, over a salted session. */
  async createSealed(
    parent: Primary,
    session: Session,
    data: Uint8Array,
    template: Uint8Array,
  ): Promise<{ privateBlob: Uint8Array; publicArea: Uint8Array }> {
    const sensitive = new Writer().tpm2b(new Uint8Array(0)).tpm2b(data).finish()
    const params = new Writer().tpm2b(sensitive).tpm2b(template).tpm2b(new Uint8Array(0)).u32(0).finish()
    const res = await this.run(CC.Create, [parent], [{ session, attrs: SESSION_ATTR.decrypt }], params)
    const r = new Reader(res.params, 'Create response')
    const privateBlob = r.tpm2b()
    const publicArea = r.tpm2b()
    return { privateBlob, publicArea }
  }

  /** TPM2_Load of an object's blobs under `parent`. */
  async load(parent: LoadedObject, privateBlob: Uint8Array, publicArea: Uint8Array): Promise<LoadedObject> {
    const params = new Writer().tpm2b(privateBlob).tpm2b(publicArea).finish()
    const res = await this.run(CC.Load, [parent], [{ session: 'password', attrs: 0 }], params, 1)
    const r = new Reader(res.params, 'Load response')
    const name = r.tpm2b()
    r.end()
    const handle = res.handles[0] as number
    if (!Buffer.from(name).equals(objectName(publicArea))) {
      await this.flush(handle)
      throw new TpmError('EPROTO', `${this.label}: loaded object's name does not match its public area`)
    }
    return { handle, name }
  }

  /** TPM2_Unseal with a session that encrypts the response (so the secret is not on the bus in clear). */
  async unseal(item: LoadedObject, session: Session): Promise<Uint8Array> {
    const res = await this.run(
      CC.Unseal,
      [item],
      [{ session, attrs: SESSION_ATTR.encrypt }],
      new Uint8Array(0),
    )
    const r = new Reader(res.params, 'Unseal response')
    const data = r.tpm2b()
    r.end()
    return data
  }

  /** TPM2_PolicyPCR over the current values of `pcrs` (SHA-256 bank). */
  async policyPcr(session: Session, pcrs: readonly number[]): Promise<void> {
    const params = new Writer().tpm2b(new Uint8Array(0)).bytes(pcrSelection(pcrs)).finish()
    await this.run(CC.PolicyPCR, [{ handle: session.handle, name: handleName(session.handle) }], [], params)
  }

  async policyGetDigest(session: Session): Promise<Uint8Array> {
    const res = await this.run(
      CC.PolicyGetDigest,
      [{ handle: session.handle, name: handleName(session.handle) }],
      [],
      new Uint8Array(0),
    )
    const r = new Reader(res.params, 'PolicyGetDigest response')
    const digest = r.tpm2b()
    r.end()
    return digest
  }

  /** TPM2_PCR_Read of SHA-256 PCRs; returns index → value. */
  async pcrRead(pcrs: readonly number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>()
    let left = [...pcrs]
    // A TPM returns at most 8 digests per call: ask again for what is missing.
    while (left.length) {
      const res = await this.run(CC.PCR_Read, [], [], pcrSelection(left))
      const r = new Reader(res.params, 'PCR_Read response')
      r.u32() // update counter
      const got = readPcrSelection(r)
      const count = r.u32()
      if (count !== got.length || count === 0)
        throw new TpmError(
          'EPROTO',
          `${this.label}: PCR_Read returned ${count} values for ${got.length} PCRs`,
        )
      for (const p of got) out.set(p, r.tpm2b())
      r.end()
      left = left.filter((p) => !out.has(p))
    }
    return out
  }

  /** TPM2_PCR_Extend of a SHA-256 PCR (tests use 16 or 23, which software may change). */
  async pcrExtend(pcr: number, digest: Uint8Array): Promise<void> {
    if (digest.length !== SHA256_SIZE) throw new RangeError('PCR_Extend needs a 32-byte digest')
    const params = new Writer().u32(1).u16(ALG.SHA256).bytes(digest).finish()
    await this.run(
      CC.PCR_Extend,
      [{ handle: pcr, name: handleName(pcr) }],
      [{ session: 'password', attrs: 0 }],
      params,
    )
  }

  /** TPM2_FlushContext. */
  async flush(handle: number): Promise<void> {
    await this.run(CC.FlushContext, [], [], new Writer().u32(handle).finish())
  }

  /** Flush, ignoring errors (the context may already be gone): for `finally` blocks. */
  async flushQuietly(handle: number | undefined): Promise<void> {
    if (handle === undefined) return
    try {
      await this.flush(handle)
    } catch {
      // Already flushed (a session without continueSession ends with its command) or transport down.
    }
  }
}

/** The name of a permanent entity, PCR or session: its handle. */
function handleName(handle: number): Uint8Array {
  return new Writer().u32(handle).finish()
}

/** The HMAC / CFB key of a session use: sessionKey || authValue (policy sessions: no authValue). */
function sessionValue(a: Auth): Uint8Array {
  if (a.session === 'password') return new Uint8Array(0)
  if (a.session.type === SE.POLICY || !a.authValue?.length) return a.session.sessionKey
  return Buffer.concat([a.session.sessionKey, a.authValue])
}
