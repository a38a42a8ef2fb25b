/**
 * SmtpProtocolHandler: the reference design's main API. Prepares the message in one pass
 * (message/prepare.ts: every rule once, by its owner), takes a pooled connection, sends, retries what
 * is safe to retry, and always answers with a DeliveryResult.
 *
 * Retry rules (RFC 5321 §4.2.1, §4.5.4.1): transient replies in `retryableCodes` and connection
 * failures before the message was handed over are retried with backoff. Once the final dot (or
 * BDAT LAST) is written and the connection dies before the reply, the server may have accepted the
 * message: the result is UNKNOWN with its Message-ID, and nothing is resent.
 */
import type tls from 'node:tls';
import { DEFAULT_PORTS, isEncryption, SmtpDeliveryStatus, type SmtpEncryption } from './enums.js';
import {
  AuthError,
  ClosedError,
  ErrorCodes,
  InvalidArgumentError,
  ReplyError,
  SmtpError,
  toSmtpError,
} from './errors.js';
import {
  type PreparedMessage,
  prepareMessage,
  prepareRaw,
  type RawEnvelopeInput,
  type RawMessageInput,
} from './message/prepare.js';
import { type AddressInput, MESSAGE_INPUT_KEYS, type MessageInput } from './message/types.js';
import { resolveLimits, SmtpMessageValidator, type ValidationLimits } from './message/validator.js';
import { findUnknownKey } from './options.js';
import { type PoolConnectionParams, SmtpConnectionPool, type SmtpConnectionPoolOptions } from './pool/pool.js';
import { type AccessTokenProvider, AUTH_METHODS, type AuthMethod } from './protocol/auth.js';
import { formatReply, type Reply } from './protocol/reply.js';
import { DeliveryResult } from './result.js';
import { backoffDelay, isRetryable, isRetryableReply, type RetryPolicy, resolveRetryPolicy, sleep } from './retry.js';
import {
  type MailOutcome,
  resolveTimeouts,
  type SmtpConnection,
  type Timeouts,
  type TranscriptEntry,
} from './transport/connection.js';

export interface SmtpProtocolHandlerOptions {
  hostname: string;
  /** Default from the encryption: 25, 587 or 465. */
  port?: number;
  username?: string;
  password?: string;
  /** Default `'tls'`: STARTTLS, required. */
  encryption?: SmtpEncryption;
  /** Default sender for `sendMessage`. */
  fromAddress?: AddressInput;
  /** Connections kept to this server. Default 10. */
  poolSize?: number;
  tls?: tls.ConnectionOptions;
  /** Default: the strongest advertised for the channel (see README). */
  authMethod?: AuthMethod;
  clientName?: string;
  timeouts?: Partial<Timeouts>;
  retryPolicy?: Partial<RetryPolicy>;
  limits?: Partial<ValidationLimits>;
  /** Default: used when advertised. */
  pipelining?: boolean;
  /** Default false: BDAT when CHUNKING is advertised. */
  chunking?: boolean;
  allowInsecureAuth?: boolean;
  onTranscript?: (entry: TranscriptEntry) => void;
  // beyond the contract
  /** OAuth 2 token (or provider) for XOAUTH2. */
  accessToken?: AccessTokenProvider;
  /** With encryption 'tls': go on in plaintext when STARTTLS is missing. Default false. */
  opportunisticTls?: boolean;
  /** Extra pool settings (idleTimeout, staleTimeout, maxMessagesPerConnection, rateLimit, …). */
  pool?: Omit<SmtpConnectionPoolOptions, 'maxConnections'>;
}

export interface SendMessageOptions extends MessageInput {
  /** Retry temporary failures with backoff. Default true. */
  retry?: boolean;
  signal?: AbortSignal;
  /** Fixed Message-ID (with angle brackets); default a fresh random one. */
  messageId?: string;
  /** Awaited before the final dot of each attempt (see `SendMailOptions.onBeforeHandOver`). */
  onBeforeHandOver?: () => void | Promise<void>;
  /** The SMTP envelope instead of the one derived from the headers (From; To + Cc + Bcc). */
  envelope?: { from: string; to: readonly string[] };
}

/**
 * The keys `sendMessage` takes: the message's own (`MESSAGE_INPUT_KEYS`) plus these send options.
 * Any other key gives an INVALID result naming it and the nearest known key.
 */
export const SEND_OPTION_KEYS: readonly string[] = Object.freeze([
  'retry',
  'signal',
  'messageId',
  'onBeforeHandOver',
  'envelope',
  'dkim',
]);
const SEND_MESSAGE_KEYS: readonly string[] = Object.freeze([...MESSAGE_INPUT_KEYS, ...SEND_OPTION_KEYS]);

/** The envelope of `sendRaw`: RFC 5322 address forms, plus declarations about a stream (see README). */
export type RawEnvelope = RawEnvelopeInput;

export interface SendRawOptions {
  retry?: boolean;
  signal?: AbortSignal;
  /** For the result when the message's own Message-ID header cannot be read (streams). */
  messageId?: string;
  /** Awaited before the final dot of each attempt (see `SendMailOptions.onBeforeHandOver`). */
  onBeforeHandOver?: () => void | Promise<void>;
}

const SEND_RAW_KEYS: readonly string[] = Object.freeze(['retry', 'signal', 'messageId', 'onBeforeHandOver', 'dkim']);

/** A raw message: bytes, or a factory giving a fresh stream per attempt (a bare stream can be sent once). */
export type RawMessage = RawMessageInput;

interface Job {
  prepared: PreparedMessage;
  retry: boolean;
  signal: AbortSignal | undefined;
  beforeHandOver: (() => void | Promise<void>) | undefined;
}

export class SmtpProtocolHandler {
  readonly hostname: string;
  readonly port: number;
  readonly encryption: SmtpEncryption;
  readonly fromAddress: string | undefined;
  readonly pool: SmtpConnectionPool;

  readonly #params: PoolConnectionParams;
  readonly #retryPolicy: RetryPolicy;
  readonly #limits: Readonly<ValidationLimits>;
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;
  #lastError: SmtpError | null = null;

  /** @throws InvalidArgumentError naming the option at fault. */
  constructor(options: SmtpProtocolHandlerOptions) {
    if (!options || typeof options !== 'object')
      throw new InvalidArgumentError('options are required', { field: 'options' });
    const { hostname, username, password, accessToken } = options;
    if (typeof hostname !== 'string' || hostname.trim() === '' || /[\s\r\n\0<>]/.test(hostname)) {
      throw new InvalidArgumentError('hostname must be a non-empty host name or address', { field: 'hostname' });
    }
    const encryption = options.encryption ?? 'tls';
    if (!isEncryption(encryption))
      throw new InvalidArgumentError(`encryption must be 'none', 'tls' or 'ssl'`, { field: 'encryption' });
    const port = options.port ?? DEFAULT_PORTS[encryption];
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new InvalidArgumentError('port must be an integer from 1 to 65535', { field: 'port' });
    const poolSize = options.poolSize ?? 10;
    if (!Number.isInteger(poolSize) || poolSize < 1)
      throw new InvalidArgumentError('poolSize must be a positive integer', { field: 'poolSize' });
    if (username !== undefined && (typeof username !== 'string' || /[\r\n\0]/.test(username))) {
      throw new InvalidArgumentError('username must be a string without CR, LF or NUL', { field: 'username' });
    }
    if ((password !== undefined || accessToken !== undefined) && username === undefined) {
      throw new InvalidArgumentError('a password or accessToken needs a username', { field: 'username' });
    }
    if (password !== undefined && typeof password !== 'string')
      throw new InvalidArgumentError('password must be a string', { field: 'password' });
    if (options.authMethod !== undefined && !AUTH_METHODS.includes(options.authMethod)) {
      throw new InvalidArgumentError(`authMethod must be one of ${AUTH_METHODS.join(', ')}`, { field: 'authMethod' });
    }
    if (options.onTranscript !== undefined && typeof options.onTranscript !== 'function') {
      throw new InvalidArgumentError('onTranscript must be a function', { field: 'onTranscript' });
    }
    for (const flag of ['pipelining', 'chunking', 'allowInsecureAuth', 'opportunisticTls'] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== 'boolean')
        throw new InvalidArgumentError(`${flag} must be a boolean`, { field: flag });
    }
    const timeouts = resolveTimeouts(options.timeouts);
    this.#retryPolicy = resolveRetryPolicy(options.retryPolicy);
    this.#limits = resolveLimits(options.limits);
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
    // Frozen: the pool resolves a frozen params object once instead of per checkout.
    this.#params = Object.freeze({
      host: hostname,
      port,
      encryption,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(accessToken === undefined ? {} : { accessToken }),
      ...(options.authMethod === undefined ? {} : { authMethod: options.authMethod }),
      connection: {
        timeouts,
        ...(options.tls === undefined ? {} : { tls: options.tls }),
        ...(options.clientName === undefined ? {} : { clientName: options.clientName }),
        ...(options.pipelining === undefined ? {} : { pipelining: options.pipelining }),
        ...(options.chunking === undefined ? {} : { chunking: options.chunking }),
        ...(options.allowInsecureAuth === undefined ? {} : { allowInsecureAuth: options.allowInsecureAuth }),
        ...(options.opportunisticTls === undefined ? {} : { opportunisticTls: options.opportunisticTls }),
        ...(options.onTranscript === undefined ? {} : { onTranscript: options.onTranscript }),
      },
    });
    this.pool = new SmtpConnectionPool({ ...options.pool, maxConnections: poolSize });
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
    if (this.#params.username === undefined) {
      this.#lastError = new AuthError('no credentials configured (username and password or accessToken)', {
        code: ErrorCodes.AUTH_UNAVAILABLE,
      });
      return false;
    }
    return this.#probe(options.signal, async (conn) => conn.authenticated);
  }

  async #probe(signal: AbortSignal | undefined, use: (conn: SmtpConnection) => Promise<boolean>): Promise<boolean> {
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
    return this.#track(this.#sendMessage(options));
  }

  /**
   * Sends a prepared RFC 5322 message through the same path (pool, retry, result). The envelope's
   * addresses may be RFC 5322 forms; only the address parts go to MAIL FROM / RCPT TO.
   * @throws ClosedError after `close()`.
   */
  sendRaw(envelope: RawEnvelope, message: RawMessage, options: SendRawOptions = {}): Promise<DeliveryResult> {
    return this.#track(this.#sendRaw(envelope, message, options));
  }

  /** Waits for sends in flight, then closes every pooled connection with QUIT. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    await this.pool.closeAll();
  }

  #track(p: Promise<DeliveryResult>): Promise<DeliveryResult> {
    if (this.#closed) return Promise.reject(new ClosedError('handler is closed'));
    this.#inflight.add(p);
    const done = (): void => void this.#inflight.delete(p);
    p.then(done, done);
    return p;
  }

  async #sendMessage(options: SendMessageOptions): Promise<DeliveryResult> {
    let prepared: PreparedMessage;
    try {
      if (typeof options !== 'object' || options === null)
        throw new InvalidArgumentError('sendMessage needs an options object', { field: 'options' });
      const unknown = findUnknownKey(options, SEND_MESSAGE_KEYS, 'sendMessage');
      if (unknown) throw new InvalidArgumentError(unknown.message, { field: unknown.key });
      prepared = prepareMessage(options, {
        limits: this.#limits,
        defaultFrom: this.fromAddress,
        messageId: options.messageId,
        envelope: options.envelope,
      });
    } catch (err) {
      return invalid(err);
    }
    return this.#deliver({
      prepared,
      retry: options.retry !== false,
      signal: options.signal,
      beforeHandOver: options.onBeforeHandOver,
    });
  }

  async #sendRaw(envelope: RawEnvelope, message: RawMessage, options: SendRawOptions): Promise<DeliveryResult> {
    let prepared: PreparedMessage;
    try {
      if (typeof options !== 'object' || options === null)
        throw new InvalidArgumentError('sendRaw options must be an object', { field: 'options' });
      const unknown = findUnknownKey(options, SEND_RAW_KEYS, 'sendRaw');
      if (unknown) throw new InvalidArgumentError(unknown.message, { field: unknown.key });
      prepared = prepareRaw(envelope, message, { messageId: options.messageId, limits: this.#limits });
    } catch (err) {
      return invalid(err);
    }
    return this.#deliver({
      prepared,
      retry: options.retry !== false,
      signal: options.signal,
      beforeHandOver: options.onBeforeHandOver,
    });
  }

  /** The attempt loop: one DeliveryResult, retries only where nothing can have been delivered. */
  async #deliver(job: Job): Promise<DeliveryResult> {
    const policy = this.#retryPolicy;
    const maxAttempts = job.retry ? policy.maxRetries + 1 : 1;
    const signalOption = job.signal ? { signal: job.signal } : {};
    let last: DeliveryResult | null = null;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (attempt > 0) {
        try {
          await sleep(backoffDelay(attempt - 1, policy), job.signal);
        } catch (err) {
          return this.#fromError(job, err, attempt - 1, null);
        }
      }
      const result = await this.#attempt(job, attempt, signalOption);
      // A one-shot stream was taken by the failed attempt: the caller must resend it.
      if (result === null)
        return (
          last ??
          this.#fromError(
            job,
            new SmtpError('the message stream was consumed by an earlier attempt; send it again with a fresh stream', {
              code: ErrorCodes.BODY_SOURCE,
            }),
            attempt,
            null,
          )
        );
      if (!result.isRetryable || result.status === SmtpDeliveryStatus.UNKNOWN) return result;
      last = result;
    }
    // Out of attempts (or retry off): the failure stays temporary for the caller.
    const status = job.retry ? SmtpDeliveryStatus.TEMP_FAILED : SmtpDeliveryStatus.RETRY;
    return new DeliveryResult({ ...resultFields(last!), status });
  }

  /** One attempt; null when the body was a one-shot stream already used. */
  async #attempt(job: Job, attempt: number, signalOption: { signal?: AbortSignal }): Promise<DeliveryResult | null> {
    let conn: SmtpConnection;
    try {
      conn = await this.pool.getConnection(this.#params, signalOption);
    } catch (err) {
      return this.#fromError(job, err, attempt, null);
    }
    // Taken only now: a failed connect leaves a one-shot stream unread, so the retry can still send it.
    const body = job.prepared.body();
    if (body === null) {
      this.pool.releaseConnection(conn);
      return null;
    }
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        this.pool.releaseConnection(conn);
      }
    };
    let accepted: readonly string[] | null = null;
    try {
      // A 421 at any stage fails the connection inside the engine, so the pool never reuses it.
      const outcome = await conn.sendMail(job.prepared.envelope, body, {
        ...signalOption,
        onHandedOver: release,
        onRecipients: (ok) => {
          accepted = ok;
        },
        ...(job.beforeHandOver ? { onBeforeHandOver: job.beforeHandOver } : {}),
      });
      return this.#fromOutcome(job, outcome, attempt);
    } catch (err) {
      // A caller's value refused by the engine's checks before a byte was written leaves the
      // connection usable: that is an INVALID message, not a failed delivery.
      const error = toSmtpError(err);
      const nothingSent = error instanceof InvalidArgumentError && !conn.isBroken;
      return this.#fromError(job, error, attempt, accepted, nothingSent);
    } finally {
      release();
    }
  }

  #fromOutcome(job: Job, outcome: MailOutcome, attempt: number): DeliveryResult {
    const policy = this.#retryPolicy;
    const { asGiven } = job.prepared;
    const recipientFailures: Record<string, string> = {};
    for (const r of outcome.rejected) recipientFailures[asGiven(r.recipient)] = formatReply(r.reply);
    const response = formatReply(outcome.reply);
    const base = {
      messageId: job.prepared.messageId,
      smtpCode: outcome.reply.code,
      smtpError: outcome.delivered ? null : response,
      enhancedCode: outcome.reply.enhanced,
      response,
      recipientFailures,
      acceptedRecipients: outcome.accepted.map(asGiven),
      retryCount: attempt,
    };
    if (outcome.delivered)
      return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.SUCCESS, sentAt: new Date() });
    const transient = (reply: Reply): boolean => isRetryableReply(reply.code, policy);
    switch (outcome.stage) {
      case 'mail':
        return transient(outcome.reply)
          ? new DeliveryResult({ ...base, status: SmtpDeliveryStatus.TEMP_FAILED, isRetryable: true })
          : new DeliveryResult({ ...base, status: SmtpDeliveryStatus.REJECTED });
      case 'rcpt':
        // Every recipient refused: worth another try only if every refusal was temporary.
        return outcome.rejected.every((r) => transient(r.reply))
          ? new DeliveryResult({ ...base, status: SmtpDeliveryStatus.TEMP_FAILED, isRetryable: true })
          : new DeliveryResult({ ...base, status: SmtpDeliveryStatus.REJECTED });
      case 'data':
      case 'final':
        return transient(outcome.reply)
          ? new DeliveryResult({ ...base, status: SmtpDeliveryStatus.TEMP_FAILED, isRetryable: true })
          : new DeliveryResult({ ...base, status: SmtpDeliveryStatus.FAILED });
    }
  }

  #fromError(
    job: Job,
    err: unknown,
    attempt: number,
    accepted: readonly string[] | null,
    nothingSent = false,
  ): DeliveryResult {
    const error = toSmtpError(err);
    const reply = error instanceof ReplyError ? error : null;
    const base = {
      messageId: job.prepared.messageId,
      smtpCode: error.replyCode,
      smtpError: reply ? reply.response : error.message,
      enhancedCode: error.enhancedCode,
      response: reply ? replyText(reply) : null,
      // Kept for UNKNOWN too: these recipients were accepted before the connection was lost.
      acceptedRecipients: accepted === null ? [] : accepted.map(job.prepared.asGiven),
      retryCount: attempt,
      error,
    };
    if (error.messageHandedOver) return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.UNKNOWN });
    if (nothingSent) return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.INVALID });
    if (isRetryable(error, this.#retryPolicy))
      return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.TEMP_FAILED, isRetryable: true });
    return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.FAILED });
  }
}

function resultFields(r: DeliveryResult) {
  return {
    messageId: r.messageId,
    smtpCode: r.smtpCode,
    smtpError: r.smtpError,
    enhancedCode: r.enhancedCode,
    response: r.response,
    recipientFailures: r.recipientFailures,
    acceptedRecipients: r.acceptedRecipients,
    sentAt: r.sentAt,
    retryCount: r.retryCount,
    isRetryable: r.isRetryable,
    error: r.error,
  };
}

/** `550 5.1.1 text`: the reply behind a ReplyError, as a result's `response`. */
function replyText(err: ReplyError): string {
  return formatReply({ code: err.replyCode, enhanced: err.enhancedCode, lines: err.lines });
}

/** An INVALID result: nothing was sent. */
function invalid(err: unknown): DeliveryResult {
  const error = toSmtpError(err);
  return new DeliveryResult({
    status: SmtpDeliveryStatus.INVALID,
    messageId: null,
    smtpError: error.message,
    error,
  });
}
