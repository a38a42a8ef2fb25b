/**
 * SmtpProtocolHandler: the reference design's main API. Checks its options, prepares the message in
 * one pass (message/prepare.ts: every rule once, by its owner) and hands it to the attempt loop
 * (`delivery.ts`: DKIM signing, pooled connections, retries, LMTP per-recipient retries), whose
 * replies and errors become a DeliveryResult in `decide.ts`. Every send answers with a
 * DeliveryResult; a message refused before anything is sent is INVALID.
 */
import type tls from 'node:tls';
import type { SmtpEncryption, SmtpProtocol } from '../enums.js';
import { AuthError, ClosedError, ErrorCodes, InvalidArgumentError, SmtpError, toSmtpError } from '../errors.js';
import { AddressCache } from '../message/address.js';
import { createDkimSigners, type DkimOptions } from '../message/dkim/sign.js';
import { type DkimSpoolOptions, resolveDkimSpool } from '../message/dkim/signed-body.js';
import { type PreparedMessage, prepareMessage, prepareRaw } from '../message/prepare.js';
import { type AddressInput, MESSAGE_INPUT_KEYS } from '../message/types.js';
import { resolveLimits, SmtpMessageValidator, type ValidationLimits } from '../message/validator.js';
import { SmtpMxHandler, type SmtpMxHandlerOptions } from '../mx/handler.js';
import {
  checkBooleans,
  checkClientName,
  checkCredentials,
  checkFunction,
  checkHandlerKeys,
  checkLocalAddress,
  findUnknownKey,
  positiveInteger,
  resolveEndpoint,
  SEND_MESSAGE_OPTION_KEYS,
  SEND_RAW_OPTION_KEYS,
} from '../options.js';
import {
  type PoolConnectionParams,
  PoolKey,
  SmtpConnectionPool,
  type SmtpConnectionPoolOptions,
} from '../pool/pool.js';
import type { AccessTokenProvider, AuthMethod } from '../protocol/auth.js';
import { checkDsn, type DsnOptions } from '../protocol/dsn.js';
import { resolveTimeouts, type SmtpConnection, type Timeouts, type TranscriptEntry } from '../transport/connection.js';
import { channels } from '../util/channels.js';
import { invalid } from './decide.js';
import { Delivery, type Job, resumeJob } from './delivery.js';
import type { DeliveryResult } from './result.js';
import { type RetryPolicy, resolveRetryPolicy } from './retry.js';
import type { RawEnvelope, RawMessage, SendMessageOptions, SendRawOptions } from './send-options.js';

/** `new SmtpProtocolHandler({ transport: 'mx', … })`: the options of SmtpMxHandler, `transport` given. */
export type MxTransportOptions = SmtpMxHandlerOptions & { transport: 'mx' };

function isMxTransport(options: SmtpProtocolHandlerOptions | MxTransportOptions): options is MxTransportOptions {
  return (options as { transport?: unknown }).transport === 'mx';
}

export type { RawEnvelope, RawMessage, SendMessageOptions, SendRawOptions } from './send-options.js';

/**
 * Handler options. Optional fields also take `undefined` (as when absent), so values such as
 * `process.env.SMTP_PASSWORD` type-check under `exactOptionalPropertyTypes`.
 */
export interface SmtpProtocolHandlerOptions {
  hostname: string;
  /** Default from the encryption: 25, 587 or 465. */
  port?: number | undefined;
  username?: string | undefined;
  password?: string | undefined;
  /** Default `'tls'`: STARTTLS, required. */
  encryption?: SmtpEncryption | undefined;
  /** Default sender for `sendMessage`. */
  fromAddress?: AddressInput | undefined;
  /** Connections kept to this server. Default 10. */
  poolSize?: number | undefined;
  tls?: tls.ConnectionOptions | undefined;
  /** Default: the strongest advertised for the channel (see README). */
  authMethod?: AuthMethod | undefined;
  clientName?: string | undefined;
  timeouts?: Partial<Timeouts> | undefined;
  retryPolicy?: Partial<RetryPolicy> | undefined;
  limits?: Partial<ValidationLimits> | undefined;
  /** Default: used when advertised. */
  pipelining?: boolean | undefined;
  /** Default false: BDAT when CHUNKING is advertised. */
  chunking?: boolean | undefined;
  allowInsecureAuth?: boolean | undefined;
  onTranscript?: ((entry: TranscriptEntry) => void) | undefined;
  // beyond the contract
  /** OAuth 2 token (or provider) for XOAUTH2. */
  accessToken?: AccessTokenProvider | undefined;
  /** With encryption 'tls': go on in plaintext when STARTTLS is missing. Default false. */
  opportunisticTls?: boolean | undefined;
  /** Extra pool settings (idleTimeout, staleTimeout, maxMessagesPerConnection, rateLimit, …). */
  pool?: Omit<SmtpConnectionPoolOptions, 'maxConnections'> | undefined;
  /** DKIM signature(s) for every message (a list: one signature each, e.g. RSA + Ed25519). See README "DKIM". */
  dkim?: DkimOptions | DkimOptions[] | undefined;
  /**
   * Where a one-shot stream body is spooled to be DKIM-signed (it must be read twice); `false` refuses such
   * bodies. Default: the OS temp directory, up to the largest message the `limits` allow.
   */
  dkimSpool?: DkimSpoolOptions | undefined;
  /**
   * `'lmtp'` (RFC 2033): LHLO, port 24 by default, a `hostname` starting with `/` is a Unix socket,
   * and one final reply per recipient (see README "AUTH and LMTP"). Default `'smtp'`.
   */
  protocol?: SmtpProtocol | undefined;
  /** SCRAM: the lowest PBKDF2 iteration count accepted from a server. Default 4096. */
  scramMinIterations?: number | undefined;
  /** The local IP address every connection binds to (a host with several addresses). */
  localAddress?: string | undefined;
}

/**
 * The keys `sendMessage` takes: the message's own (`MESSAGE_INPUT_KEYS`) plus these send options.
 * Any other key gives an INVALID result naming it and the nearest known key. (The list lives in
 * option-keys.ts, tied to {@link SendMessageOptions} there; exported here as plain strings.)
 */
export const SEND_OPTION_KEYS: readonly string[] = SEND_MESSAGE_OPTION_KEYS;
const SEND_MESSAGE_KEYS: readonly string[] = Object.freeze([...MESSAGE_INPUT_KEYS, ...SEND_OPTION_KEYS]);

/** Connections kept to one server: the reference design's pool size. */
const DEFAULT_POOL_SIZE = 10;

export class SmtpProtocolHandler {
  readonly hostname: string;
  readonly port: number;
  readonly encryption: SmtpEncryption;
  readonly fromAddress: AddressInput | undefined;
  readonly pool: SmtpConnectionPool;
  /** The retry policy resolved from the options, defaults applied (the outbox worker's backoff reads it). */
  readonly retryPolicy: Readonly<RetryPolicy>;

  /**
   * With `transport: 'mx'`: the SmtpMxHandler every send goes through (resolver, `tlsRpt` …); null for a
   * handler of one server.
   */
  readonly mx: SmtpMxHandler | null = null;

  // Unset with `transport: 'mx'` (every method that reads them is for one server and checks `mx` first).
  readonly #params!: PoolConnectionParams;
  readonly #limits!: Readonly<ValidationLimits>;
  /** The same sender and recipients come back message after message: each text is parsed once per handler. */
  readonly #addresses = new AddressCache();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #delivery!: Delivery;
  #closed = false;
  #lastError: SmtpError | null = null;

  /**
   * One server (`hostname` …), or with `transport: 'mx'` the recipients' domains: the options of
   * {@link SmtpMxHandler}, the same `sendMessage` / `sendRaw` and results (each an MxDeliveryResult).
   * @throws InvalidArgumentError naming the option at fault.
   */
  constructor(options: SmtpProtocolHandlerOptions | MxTransportOptions) {
    if (!options || typeof options !== 'object')
      throw new InvalidArgumentError('options are required', { field: 'options' });
    if (isMxTransport(options)) {
      const mx = new SmtpMxHandler(options);
      this.mx = mx;
      this.hostname = '';
      this.port = options.port ?? 25;
      this.encryption = 'tls';
      this.fromAddress = mx.fromAddress;
      this.retryPolicy = resolveRetryPolicy(options.retryPolicy);
      // Never used: each MX destination has its own pool.
      this.pool = new SmtpConnectionPool({ maxConnections: 1 });
      return;
    }
    // Every rule lives in options.ts, shared with the pool, SmtpConnection and probe.
    checkHandlerKeys(options);
    const { username, password, accessToken } = options;
    const {
      host: hostname,
      port,
      encryption,
      protocol,
    } = resolveEndpoint(
      { host: options.hostname, port: options.port, encryption: options.encryption, protocol: options.protocol },
      'hostname',
    );
    if (options.scramMinIterations !== undefined)
      positiveInteger(options.scramMinIterations, undefined, 'scramMinIterations');
    const poolSize = positiveInteger(options.poolSize, DEFAULT_POOL_SIZE, 'poolSize');
    checkCredentials(options);
    checkClientName(options.clientName);
    checkLocalAddress(options.localAddress);
    checkFunction(options.onTranscript, 'onTranscript');
    checkBooleans(options, ['pipelining', 'chunking', 'allowInsecureAuth', 'opportunisticTls']);
    const timeouts = resolveTimeouts(options.timeouts);
    const retryPolicy = resolveRetryPolicy(options.retryPolicy);
    this.retryPolicy = retryPolicy;
    this.#limits = resolveLimits(options.limits);
    // DKIM (issue 14): options and keys checked here, so a bad key throws now, never at send time.
    const dkim = options.dkim === undefined ? null : createDkimSigners(options.dkim);
    const dkimSpool = resolveDkimSpool(options.dkimSpool, this.#limits);
    if (options.fromAddress !== undefined) {
      const check = SmtpMessageValidator.validateEmailAddress(options.fromAddress, this.#limits);
      if (!check.valid)
        throw new InvalidArgumentError(`fromAddress: ${check.error}`, {
          field: 'fromAddress',
          code: ErrorCodes.INVALID_ADDRESS,
        });
    }
    this.hostname = hostname;
    this.port = port;
    this.encryption = encryption;
    this.fromAddress = options.fromAddress;
    // Resolved once: the pool takes the key object as it is, at every checkout.
    this.#params = new PoolKey({
      host: hostname,
      port,
      encryption,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(accessToken === undefined ? {} : { accessToken }),
      ...(options.authMethod === undefined ? {} : { authMethod: options.authMethod }),
      ...(protocol === 'lmtp' ? { protocol } : {}),
      connection: {
        ...(options.scramMinIterations === undefined ? {} : { scramMinIterations: options.scramMinIterations }),
        timeouts,
        ...(options.tls === undefined ? {} : { tls: options.tls }),
        ...(options.clientName === undefined ? {} : { clientName: options.clientName }),
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
        ...(options.pipelining === undefined ? {} : { pipelining: options.pipelining }),
        ...(options.chunking === undefined ? {} : { chunking: options.chunking }),
        ...(options.allowInsecureAuth === undefined ? {} : { allowInsecureAuth: options.allowInsecureAuth }),
        ...(options.opportunisticTls === undefined ? {} : { opportunisticTls: options.opportunisticTls }),
        ...(options.onTranscript === undefined ? {} : { onTranscript: options.onTranscript }),
      },
    });
    this.pool = new SmtpConnectionPool({ ...options.pool, maxConnections: poolSize });
    this.#delivery = new Delivery({ pool: this.pool, params: this.#params, retryPolicy, dkim, dkimSpool });
  }

  /** The error behind the last `false` from connect / testConnection / authenticate. */
  get lastError(): SmtpError | null {
    return this.#lastError;
  }

  /** Greeting, EHLO, STARTTLS, EHLO, AUTH when credentials are set; the connection is kept in the pool. */
  async connect(options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return this.#probe(options.signal, async () => true);
  }

  /** Connects and sends a real NOOP. Never throws. */
  async testConnection(options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return this.#probe(options.signal, async (conn) => {
      await conn.noop(options.signal ? { signal: options.signal } : {});
      return true;
    });
  }

  /** Authenticates with the configured credentials; false without credentials or when refused. */
  async authenticate(options: { signal?: AbortSignal } = {}): Promise<boolean> {
    if (this.mx === null && this.#params.username === undefined) {
      this.#lastError = new AuthError('no credentials configured (username and password or accessToken)', {
        code: ErrorCodes.AUTH_UNAVAILABLE,
      });
      return false;
    }
    return this.#probe(options.signal, async (conn) => conn.authenticated);
  }

  async #probe(signal: AbortSignal | undefined, use: (conn: SmtpConnection) => Promise<boolean>): Promise<boolean> {
    if (this.mx !== null) {
      this.#lastError = new SmtpError(
        "transport 'mx' has no single server to connect to: send, and read each domain's result",
        {
          code: ErrorCodes.INVALID_STATE,
        },
      );
      return false;
    }
    if (this.#closed) {
      this.#lastError = new ClosedError('handler is closed');
      return false;
    }
    let conn: SmtpConnection | undefined;
    try {
      conn = await this.pool.getConnection(this.#params, signal ? { signal } : {});
      const ok = await use(conn);
      this.#lastError = null;
      return ok;
    } catch (err) {
      this.#lastError = toSmtpError(err);
      return false;
    } finally {
      if (conn) this.pool.releaseConnection(conn);
    }
  }

  /**
   * Validates, builds and sends one message. Resolves with a DeliveryResult for every delivery outcome
   * (INVALID when validation fails: nothing is sent).
   * @throws ClosedError after `close()`.
   */
  sendMessage(options: SendMessageOptions): Promise<DeliveryResult> {
    if (this.mx !== null) return this.mx.sendMessage(options);
    return this.#track(() =>
      channels.send.hasSubscribers
        ? channels.send.tracePromise(() => this.#sendMessage(options), this.#traceContext('message'))
        : this.#sendMessage(options),
    );
  }

  /**
   * Sends a prepared RFC 5322 message through the same path (pool, retry, result). The envelope's
   * addresses may be RFC 5322 forms; only the address parts go to MAIL FROM / RCPT TO.
   * @throws ClosedError after `close()`.
   */
  sendRaw(envelope: RawEnvelope, message: RawMessage, options: SendRawOptions = {}): Promise<DeliveryResult> {
    if (this.mx !== null) return this.mx.sendRaw(envelope, message, options);
    return this.#track(() =>
      channels.send.hasSubscribers
        ? channels.send.tracePromise(() => this.#sendRaw(envelope, message, options), this.#traceContext('raw'))
        : this.#sendRaw(envelope, message, options),
    );
  }

  /** Waits for sends in flight, then closes every pooled connection with QUIT. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    await Promise.all([this.pool.closeAll(), this.mx?.close()]);
  }

  /** The context of the `smtpwire:send` tracing channel. */
  #traceContext(kind: 'message' | 'raw') {
    return { kind, host: this.hostname, port: this.port };
  }

  /** Starts a send unless the handler is closed: a refused call must not send anyway (the caller may resend it). */
  #track(start: () => Promise<DeliveryResult>): Promise<DeliveryResult> {
    if (this.#closed) return Promise.reject(new ClosedError('handler is closed'));
    const p = start();
    this.#inflight.add(p);
    const done = (): void => void this.#inflight.delete(p);
    p.then(done, done);
    return p;
  }

  async #sendMessage(options: SendMessageOptions): Promise<DeliveryResult> {
    let job: Job;
    try {
      if (typeof options !== 'object' || options === null)
        throw new InvalidArgumentError('sendMessage needs an options object', { field: 'options' });
      const unknown = findUnknownKey(options, SEND_MESSAGE_KEYS, 'sendMessage');
      if (unknown) throw new InvalidArgumentError(unknown.message, { field: unknown.key });
      const prepared = prepareMessage(options, {
        limits: this.#limits,
        defaultFrom: this.fromAddress,
        messageId: options.messageId,
        envelope: options.envelope,
        addresses: this.#addresses,
      });
      job = newJob(prepared, options, checkDsn(options.dsn));
    } catch (err) {
      return invalid(err);
    }
    if (channels.sendPrepared.hasSubscribers) publishPrepared(job.prepared);
    return this.#delivery.deliver(job, options.dkim);
  }

  async #sendRaw(envelope: RawEnvelope, message: RawMessage, options: SendRawOptions): Promise<DeliveryResult> {
    let job: Job;
    try {
      if (typeof options !== 'object' || options === null)
        throw new InvalidArgumentError('sendRaw options must be an object', { field: 'options' });
      const unknown = findUnknownKey(options, SEND_RAW_OPTION_KEYS, 'sendRaw');
      if (unknown) throw new InvalidArgumentError(unknown.message, { field: unknown.key });
      const prepared = prepareRaw(envelope, message, {
        messageId: options.messageId,
        limits: this.#limits,
        addresses: this.#addresses,
      });
      job = newJob(prepared, options, checkDsn(envelope.dsn, 'envelope.dsn'));
    } catch (err) {
      return invalid(err);
    }
    if (channels.sendPrepared.hasSubscribers) publishPrepared(job.prepared);
    return this.#delivery.deliver(job, options.dkim);
  }
}

/** The attempt loop's job for a prepared message; `resume` narrows it to an earlier send's pending recipients. */
function newJob(prepared: PreparedMessage, options: SendRawOptions, dsn: DsnOptions | undefined): Job {
  const job: Job = {
    prepared,
    retry: options.retry !== false,
    signal: options.signal,
    beforeHandOver: options.onBeforeHandOver,
    start: null,
    dsn,
  };
  if (options.resume !== undefined) resumeJob(job, options.resume);
  return job;
}

/** What a send observer may know of the message: no address (they are personal data), the Message-ID. */
function publishPrepared(prepared: PreparedMessage): void {
  const { envelope, messageId } = prepared;
  channels.sendPrepared.publish({ messageId, recipients: envelope.to.length, size: envelope.size ?? null });
}
