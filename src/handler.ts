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
import { SmtpDeliveryStatus, type SmtpEncryption, type SmtpProtocol } from './enums.js';
import {
  AuthError,
  ClosedError,
  ErrorCodes,
  InvalidArgumentError,
  ReplyError,
  SmtpError,
  toSmtpError,
} from './errors.js';
import { createDkimSigners, type DkimOptions, type DkimSigner, dkimSignersFor } from './message/dkim/sign.js';
import { type DkimSpoolOptions, resolveDkimSpool, type SignSource, signMessage } from './message/dkim/signed-body.js';
import {
  type PreparedMessage,
  prepareMessage,
  prepareRaw,
  type RawEnvelopeInput,
  type RawMessageInput,
} from './message/prepare.js';
import { type AddressInput, MESSAGE_INPUT_KEYS, type MessageInput } from './message/types.js';
import { resolveLimits, SmtpMessageValidator, type ValidationLimits } from './message/validator.js';
import {
  checkBooleans,
  checkClientName,
  checkCredentials,
  checkFunction,
  checkHandlerKeys,
  findUnknownKey,
  positiveInteger,
  resolveEndpoint,
} from './options.js';
import { type PoolConnectionParams, SmtpConnectionPool, type SmtpConnectionPoolOptions } from './pool/pool.js';
import type { AccessTokenProvider, AuthMethod } from './protocol/auth.js';
import { formatReply, type Reply } from './protocol/reply.js';
import { DeliveryResult } from './result.js';
import {
  backoffDelay,
  isConnectionRefused,
  isRetryable,
  isRetryableReply,
  type RetryPolicy,
  resolveRetryPolicy,
  sleep,
} from './retry.js';
import {
  type MailOutcome,
  resolveTimeouts,
  type SmtpConnection,
  type Timeouts,
  type TranscriptEntry,
} from './transport/connection.js';

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
}

export interface SendMessageOptions extends MessageInput {
  /** Retry temporary failures with backoff. Default true. */
  retry?: boolean;
  signal?: AbortSignal;
  /** Fixed Message-ID (with angle brackets); default a fresh random one. */
  messageId?: string;
  /** Awaited before the final dot of each attempt (see `SendMailOptions.onBeforeHandOver`). */
  onBeforeHandOver?: () => void | Promise<void>;
  /** DKIM for this message, instead of the handler's; `[]` sends it unsigned. */
  dkim?: DkimOptions | DkimOptions[];
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
  /** DKIM for this message, instead of the handler's; `[]` sends it unsigned. */
  dkim?: DkimOptions | DkimOptions[];
}

const SEND_RAW_KEYS: readonly string[] = Object.freeze(['retry', 'signal', 'messageId', 'onBeforeHandOver', 'dkim']);

/** Connections kept to one server: the reference design's pool size. */
const DEFAULT_POOL_SIZE = 10;

/** A raw message: bytes, or a factory giving a fresh stream per attempt (a bare stream can be sent once). */
export type RawMessage = RawMessageInput;

interface Job {
  prepared: PreparedMessage;
  retry: boolean;
  signal: AbortSignal | undefined;
  beforeHandOver: (() => void | Promise<void>) | undefined;
  /**
   * LMTP: what earlier attempts settled per recipient. A retry after a transient per-recipient
   * failure sends only to the recipients still open (`envelope.to` is narrowed), never again to
   * those already delivered.
   */
  settled?: { delivered: string[]; failures: Record<string, string> };
  /** LMTP: the recipients a retry goes to (all of the envelope's when absent). */
  openRecipients?: readonly string[];
}

export class SmtpProtocolHandler {
  readonly hostname: string;
  readonly port: number;
  readonly encryption: SmtpEncryption;
  readonly fromAddress: AddressInput | undefined;
  readonly pool: SmtpConnectionPool;

  readonly #params: PoolConnectionParams;
  readonly #retryPolicy: RetryPolicy;
  readonly #limits: Readonly<ValidationLimits>;
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #dkim: readonly DkimSigner[] | null;
  readonly #dkimSpool: DkimSpoolOptions;
  #closed = false;
  #lastError: SmtpError | null = null;

  /** @throws InvalidArgumentError naming the option at fault. */
  constructor(options: SmtpProtocolHandlerOptions) {
    if (!options || typeof options !== 'object')
      throw new InvalidArgumentError('options are required', { field: 'options' });
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
    checkFunction(options.onTranscript, 'onTranscript');
    checkBooleans(options, ['pipelining', 'chunking', 'allowInsecureAuth', 'opportunisticTls']);
    const timeouts = resolveTimeouts(options.timeouts);
    this.#retryPolicy = resolveRetryPolicy(options.retryPolicy);
    this.#limits = resolveLimits(options.limits);
    // DKIM (issue 14): options and keys checked here, so a bad key throws now, never at send time.
    this.#dkim = options.dkim === undefined ? null : createDkimSigners(options.dkim);
    this.#dkimSpool = resolveDkimSpool(options.dkimSpool, this.#limits);
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
      ...(protocol === 'lmtp' ? { protocol } : {}),
      connection: {
        ...(options.scramMinIterations === undefined ? {} : { scramMinIterations: options.scramMinIterations }),
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
    return this.#deliverMaybeSigned(
      { prepared, retry: options.retry !== false, signal: options.signal, beforeHandOver: options.onBeforeHandOver },
      options.dkim,
    );
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
    return this.#deliverMaybeSigned(
      { prepared, retry: options.retry !== false, signal: options.signal, beforeHandOver: options.onBeforeHandOver },
      options.dkim,
    );
  }

  /**
   * DKIM (issue 14): with signers (the message's own option wins over the handler's), the prepared message
   * is signed once before the attempts — hashed in a first pass when replayable, spooled when a one-shot
   * stream — and a signing failure is INVALID with nothing sent. Any spool file is deleted afterwards.
   */
  async #deliverMaybeSigned(job: Job, perMessage: DkimOptions | DkimOptions[] | undefined): Promise<DeliveryResult> {
    let signers: readonly DkimSigner[] | null;
    try {
      signers = dkimSignersFor(perMessage, this.#dkim);
    } catch (err) {
      return invalid(err);
    }
    if (!signers) return this.#deliver(job);
    const { prepared } = job;
    const first = prepared.body();
    if (first === null) return invalid(new SmtpError('the message body was already consumed'));
    const source: SignSource =
      typeof first === 'string' || first instanceof Uint8Array
        ? { kind: 'memory', bytes: typeof first === 'string' ? Buffer.from(first, 'utf8') : first }
        : prepared.replayable
          ? { kind: 'replayable', open: () => prepared.body() as AsyncIterable<Uint8Array | string> }
          : { kind: 'once', stream: first };
    let signed: Awaited<ReturnType<typeof signMessage>>;
    try {
      signed = await signMessage(source, signers, { spool: this.#dkimSpool, signal: job.signal });
    } catch (err) {
      // Aborted by the caller: reported like an abort during an attempt, not as an invalid message.
      if ((err as SmtpError).code === ErrorCodes.ABORTED) return this.#fromError(job, err, 0, null);
      return invalid(
        new SmtpError(`DKIM signing failed: ${(err as Error).message}`, { code: ErrorCodes.DKIM_SIGN, cause: err }),
      );
    }
    const { size } = prepared.envelope;
    const signedMessage: PreparedMessage = {
      envelope: size === undefined ? prepared.envelope : { ...prepared.envelope, size: size + signed.addedSize },
      messageId: prepared.messageId,
      headerBlock: null,
      needs: prepared.needs,
      replayable: true,
      body: () => signed.body(),
      asGiven: (wire) => prepared.asGiven(wire),
    };
    try {
      return await this.#deliver({ ...job, prepared: signedMessage });
    } finally {
      await signed.dispose();
    }
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
      // A refused connection gets fewer retries than other failures (RetryPolicy.refusedRetries).
      if (isConnectionRefused(result.error) && attempt >= policy.refusedRetries) return result;
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
      // LMTP: a retry after per-recipient failures goes only to the recipients still open.
      const envelope = job.openRecipients
        ? { ...job.prepared.envelope, to: job.openRecipients }
        : job.prepared.envelope;
      const outcome = await conn.sendMail(envelope, body, {
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
    if (outcome.recipientReplies) {
      const lmtp = this.#fromLmtpOutcome(job, outcome, attempt);
      if (lmtp) return lmtp;
    }
    const { asGiven } = job.prepared;
    const recipientFailures: Record<string, string> = { ...job.settled?.failures };
    for (const r of outcome.rejected) recipientFailures[asGiven(r.recipient)] = formatReply(r.reply);
    const response = formatReply(outcome.reply);
    const base = {
      messageId: job.prepared.messageId,
      smtpCode: outcome.reply.code,
      smtpError: outcome.delivered ? null : response,
      enhancedCode: outcome.reply.enhanced,
      response,
      recipientFailures,
      acceptedRecipients: [...(job.settled?.delivered ?? []), ...outcome.accepted.map(asGiven)],
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

  /**
   * LMTP (RFC 2033 §4.2) after the data: when some recipients failed transiently, the result is
   * TEMP_FAILED and retryable, and the job's envelope is narrowed to them, so a retry never reaches a
   * recipient already delivered. Null when no recipient is open for a retry (the usual rules apply).
   */
  #fromLmtpOutcome(job: Job, outcome: MailOutcome, attempt: number): DeliveryResult | null {
    const retryable = outcome.rejected.filter((r) => isRetryableReply(r.reply.code, this.#retryPolicy));
    if (retryable.length === 0) return null;
    if (outcome.accepted.length === 0 && retryable.length === outcome.rejected.length) {
      // Nothing delivered, every failure transient: the ordinary whole-message retry, to those recipients.
      job.openRecipients = retryable.map((r) => r.recipient);
      return null;
    }
    job.settled ??= { delivered: [], failures: {} };
    const settled = job.settled;
    const { asGiven } = job.prepared;
    for (const a of outcome.accepted) settled.delivered.push(asGiven(a));
    const recipientFailures: Record<string, string> = {};
    for (const r of outcome.rejected) {
      const text = formatReply(r.reply);
      recipientFailures[asGiven(r.recipient)] = text;
      if (!retryable.includes(r)) settled.failures[asGiven(r.recipient)] = text;
    }
    job.openRecipients = retryable.map((r) => r.recipient);
    const reply = retryable[0]!.reply;
    return new DeliveryResult({
      status: SmtpDeliveryStatus.TEMP_FAILED,
      isRetryable: true,
      messageId: job.prepared.messageId,
      smtpCode: reply.code,
      smtpError: formatReply(reply),
      response: formatReply(reply),
      enhancedCode: reply.enhanced,
      recipientFailures: { ...settled.failures, ...recipientFailures },
      acceptedRecipients: [...settled.delivered],
      retryCount: attempt,
    });
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
