/**
 * SmtpProtocolHandler: the reference design's main API. Validates, builds the MIME message, takes a
 * pooled connection, sends, retries what is safe to retry, and always answers with a DeliveryResult.
 *
 * Retry rules (RFC 5321 §4.2.1, §4.5.4.1): transient replies in `retryableCodes` and connection
 * failures before the message was handed over are retried with backoff. Once the final dot (or
 * BDAT LAST) is written and the connection dies before the reply, the server may have accepted the
 * message: the result is UNKNOWN with its Message-ID, and nothing is resent.
 */
import type { Readable } from 'node:stream';
import type tls from 'node:tls';
import { SmtpDeliveryStatus, type SmtpEncryption, type SmtpProtocol } from './enums.js';
import { AuthError, ClosedError, ErrorCodes, InvalidArgumentError, ReplyError, SmtpError } from './errors.js';
import { envelopeAddress, parseAddress } from './message/address.js';
import { createDkimSigners, type DkimOptions, type DkimSigner, dkimSignersFor } from './message/dkim/sign.js';
import {
  type DkimSpoolOptions,
  resolveDkimSpool,
  type SignedMessage,
  type SignSource,
  signMessage,
} from './message/dkim/signed-body.js';
import { type BuiltMessage, buildMessage } from './message/mime/index.js';
import type { AddressInput, MessageInput } from './message/types.js';
import { resolveLimits, SmtpMessageValidator, type ValidationLimits } from './message/validator.js';
import {
  checkBooleans,
  checkClientName,
  checkCredentials,
  checkFunction,
  checkHandlerKeys,
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
  type Envelope,
  type MailOutcome,
  type MessageBody,
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
}

export interface RawEnvelope {
  from: AddressInput;
  to: readonly AddressInput[];
}

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

/** A raw message: bytes, or a factory giving a fresh stream per attempt (a bare stream can be sent once). */
export type RawMessage = Buffer | Uint8Array | string | Readable | (() => Readable);

/** Connections kept to one server: the reference design's pool size. */
const DEFAULT_POOL_SIZE = 10;

/** Bodies up to this size are built in memory once and reused across attempts. */
const IN_MEMORY_LIMIT = 1024 * 1024;

interface Job {
  envelope: Envelope;
  /** Gives the body for one attempt; null when a one-shot body was already consumed. */
  body: () => MessageBody | null;
  messageId: string | null;
  /** Envelope address (lower case) → the caller's address part. */
  callerAddress: () => Map<string, string>;
  retry: boolean;
  signal: AbortSignal | undefined;
  beforeHandOver: (() => void | Promise<void>) | undefined;
  /**
   * LMTP: what earlier attempts settled per recipient. A retry after a transient per-recipient
   * failure sends only to the recipients still open (`envelope.to` is narrowed), never again to
   * those already delivered.
   */
  settled?: { delivered: string[]; failures: Record<string, string> };
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
    const fromAddress = options?.fromAddress ?? this.fromAddress;
    if (fromAddress === undefined) return invalid('fromAddress is required (in sendMessage or the handler options)');
    const check = SmtpMessageValidator.validateMessage({ ...options, fromAddress }, this.#limits);
    if (!check.valid) return invalid(check.error ?? 'invalid message');
    let built: BuiltMessage;
    try {
      built = buildMessage({
        ...options,
        fromAddress,
        ...(options.messageId === undefined ? {} : { messageId: options.messageId }),
      });
    } catch (err) {
      return invalid((err as Error).message, err);
    }
    // Only needed to name recipients in the result; built on first use.
    let map: Map<string, string> | null = null;
    const callerAddress = (): Map<string, string> => {
      if (map) return map;
      map = new Map();
      for (const list of [options.toAddresses, options.ccAddresses ?? [], options.bccAddresses ?? []]) {
        for (const input of list) {
          const address = parseAddress(input).address;
          map.set(envelopeAddress(address).toLowerCase(), address);
        }
      }
      return map;
    };
    const envelope: Envelope = {
      from: built.envelope.from,
      to: built.envelope.to,
      eightBit: built.has8bit,
      smtpUtf8: built.needsSmtpUtf8,
      ...(built.size === null ? {} : { size: built.size }),
    };
    const job = {
      envelope,
      messageId: built.messageId,
      callerAddress,
      retry: options.retry !== false,
      signal: options.signal,
      beforeHandOver: options.onBeforeHandOver,
    };
    // DKIM (issue 14): when signing, the body comes from signMessage (see #deliverSigned).
    const inMemory = built.inMemory && built.size !== null && built.size <= IN_MEMORY_LIMIT;
    const signing = this.#dkimSigners(options.dkim);
    if (signing instanceof DeliveryResult) return signing;
    if (signing) {
      const source: SignSource = inMemory
        ? { kind: 'memory', bytes: built.toBufferSync() }
        : built.replayable
          ? { kind: 'replayable', open: () => built.stream() }
          : { kind: 'once', stream: built.stream() };
      return this.#deliverSigned(job, source, signing);
    }
    let body: () => MessageBody | null;
    if (inMemory) {
      const bytes = built.toBufferSync();
      body = () => bytes;
    } else {
      let used = false;
      body = () => {
        if (!built.replayable && used) return null;
        used = true;
        return built.stream();
      };
    }
    return this.#deliver({ ...job, body });
  }

  /** DKIM (issue 14): the signers for one message (its own option wins), or INVALID for a bad one. */
  #dkimSigners(perMessage: DkimOptions | DkimOptions[] | undefined): readonly DkimSigner[] | null | DeliveryResult {
    try {
      return dkimSignersFor(perMessage, this.#dkim);
    } catch (err) {
      return invalid((err as Error).message, err);
    }
  }

  /**
   * DKIM (issue 14): signs once before the attempts (a failure is INVALID, nothing sent), sends the signed
   * message through the usual attempt loop, then deletes any spool file. The lead moves this into prepare.ts.
   */
  async #deliverSigned(job: Omit<Job, 'body'>, source: SignSource, signers: readonly DkimSigner[]) {
    let signed: SignedMessage;
    try {
      signed = await signMessage(source, signers, { spool: this.#dkimSpool, signal: job.signal });
    } catch (err) {
      // Aborted by the caller: reported like an abort during an attempt, not as an invalid message.
      if ((err as SmtpError).code === ErrorCodes.ABORTED) return this.#fromError({ ...job, body: () => null }, err, 0);
      return invalid(`DKIM signing failed: ${(err as Error).message}`, err);
    }
    const size = job.envelope.size;
    try {
      return await this.#deliver({
        ...job,
        envelope: { ...job.envelope, ...(size === undefined ? {} : { size: size + signed.addedSize }) },
        body: () => signed.body(),
      });
    } finally {
      await signed.dispose();
    }
  }

  async #sendRaw(envelope: RawEnvelope, message: RawMessage, options: SendRawOptions): Promise<DeliveryResult> {
    const map = new Map<string, string>();
    const callerAddress = (): Map<string, string> => map;
    let from: string;
    const to: string[] = [];
    try {
      from = envelope.from === '' ? '' : envelopeAddress(parseAddress(envelope.from).address);
      if (!Array.isArray(envelope.to) || envelope.to.length === 0)
        return invalid('envelope.to must name at least one recipient');
      for (const input of envelope.to) {
        const address = parseAddress(input).address;
        const wire = envelopeAddress(address);
        map.set(wire.toLowerCase(), address);
        to.push(wire);
      }
    } catch (err) {
      return invalid((err as Error).message, err);
    }
    const inMemory =
      typeof message === 'string' ? Buffer.from(message, 'utf8') : message instanceof Uint8Array ? message : null;
    const messageId = options.messageId ?? (inMemory ? readMessageId(inMemory) : null);
    // DKIM (issue 14): a bare stream is spooled (or refused) by signMessage; a factory is read twice.
    const signing = this.#dkimSigners(options.dkim);
    if (signing instanceof DeliveryResult) return signing;
    if (signing) {
      const job = {
        envelope: { from, to },
        messageId,
        callerAddress,
        retry: options.retry !== false,
        signal: options.signal,
        beforeHandOver: options.onBeforeHandOver,
      };
      const source: SignSource = inMemory
        ? { kind: 'memory', bytes: inMemory }
        : typeof message === 'function'
          ? { kind: 'replayable', open: () => message() }
          : { kind: 'once', stream: message as Readable };
      return this.#deliverSigned(job, source, signing);
    }
    let body: () => MessageBody | null;
    if (inMemory) body = () => inMemory;
    else if (typeof message === 'function') body = () => message();
    else {
      let used = false;
      body = () => {
        if (used) return null;
        used = true;
        return message;
      };
    }
    return this.#deliver({
      // In memory, the engine computes the transmitted size itself (bare line breaks become CRLF).
      envelope: { from, to },
      body,
      messageId,
      callerAddress,
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
          return this.#fromError(job, err, attempt - 1);
        }
      }
      const result = await this.#attempt(job, attempt, signalOption);
      // A one-shot stream was taken by the failed attempt: the caller must resend it.
      if (result === null)
        return last ?? this.#fromError(job, new SmtpError('message stream already consumed'), attempt);
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
      return this.#fromError(job, err, attempt);
    }
    // Taken only now: a failed connect leaves a one-shot stream unread, so the retry can still send it.
    const body = job.body();
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
    try {
      // A 421 at any stage fails the connection inside the engine, so the pool never reuses it.
      const outcome = await conn.sendMail(job.envelope, body, {
        ...signalOption,
        onHandedOver: release,
        ...(job.beforeHandOver ? { onBeforeHandOver: job.beforeHandOver } : {}),
      });
      return this.#fromOutcome(job, outcome, attempt);
    } catch (err) {
      return this.#fromError(job, err, attempt);
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
    const recipientFailures: Record<string, string> = { ...job.settled?.failures };
    for (const r of outcome.rejected) recipientFailures[this.#callerAddress(job, r.recipient)] = formatReply(r.reply);
    const base = {
      messageId: job.messageId,
      smtpCode: outcome.reply.code,
      smtpError: outcome.delivered ? null : formatReply(outcome.reply),
      enhancedCode: outcome.reply.enhanced,
      recipientFailures,
      acceptedRecipients: [
        ...(job.settled?.delivered ?? []),
        ...outcome.accepted.map((a) => this.#callerAddress(job, a)),
      ],
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
      job.envelope = { ...job.envelope, to: retryable.map((r) => r.recipient) };
      return null;
    }
    job.settled ??= { delivered: [], failures: {} };
    const settled = job.settled;
    for (const a of outcome.accepted) settled.delivered.push(this.#callerAddress(job, a));
    const recipientFailures: Record<string, string> = {};
    for (const r of outcome.rejected) {
      const text = formatReply(r.reply);
      recipientFailures[this.#callerAddress(job, r.recipient)] = text;
      if (!retryable.includes(r)) settled.failures[this.#callerAddress(job, r.recipient)] = text;
    }
    job.envelope = { ...job.envelope, to: retryable.map((r) => r.recipient) };
    const reply = retryable[0]!.reply;
    return new DeliveryResult({
      status: SmtpDeliveryStatus.TEMP_FAILED,
      isRetryable: true,
      messageId: job.messageId,
      smtpCode: reply.code,
      smtpError: formatReply(reply),
      enhancedCode: reply.enhanced,
      recipientFailures: { ...settled.failures, ...recipientFailures },
      acceptedRecipients: [...settled.delivered],
      retryCount: attempt,
    });
  }

  #fromError(job: Job, err: unknown, attempt: number): DeliveryResult {
    const error = toSmtpError(err);
    const reply = error instanceof ReplyError ? error : null;
    const base = {
      messageId: job.messageId,
      smtpCode: reply?.replyCode ?? (error instanceof AuthError ? error.replyCode : null),
      smtpError: reply ? reply.response : error.message,
      enhancedCode: reply?.enhancedCode ?? (error instanceof AuthError ? error.enhancedCode : null),
      retryCount: attempt,
      error,
    };
    if (error.messageHandedOver) return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.UNKNOWN });
    if (error.code === ErrorCodes.INVALID_ADDRESS || error.code === ErrorCodes.HEADER_INJECTION) {
      return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.INVALID });
    }
    if (isRetryable(error, this.#retryPolicy))
      return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.TEMP_FAILED, isRetryable: true });
    return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.FAILED });
  }

  #callerAddress(job: Job, wire: string): string {
    // Only an IDN domain differs on the wire (punycode); anything else is the caller's own text.
    if (!wire.includes('xn--') && !wire.includes('XN--')) return wire;
    return job.callerAddress().get(wire.toLowerCase()) ?? wire;
  }
}

function resultFields(r: DeliveryResult) {
  return {
    messageId: r.messageId,
    smtpCode: r.smtpCode,
    smtpError: r.smtpError,
    enhancedCode: r.enhancedCode,
    recipientFailures: r.recipientFailures,
    acceptedRecipients: r.acceptedRecipients,
    sentAt: r.sentAt,
    retryCount: r.retryCount,
    isRetryable: r.isRetryable,
    error: r.error,
  };
}

function invalid(message: string, cause?: unknown): DeliveryResult {
  const error =
    cause instanceof SmtpError ? cause : new InvalidArgumentError(message, cause === undefined ? {} : { cause });
  return new DeliveryResult({ status: SmtpDeliveryStatus.INVALID, messageId: null, smtpError: message, error });
}

function toSmtpError(err: unknown): SmtpError {
  if (err instanceof SmtpError) return err;
  return new SmtpError((err as Error)?.message ?? String(err), { cause: err });
}

/** The Message-ID of a raw message, read from its header block only. */
function readMessageId(message: Uint8Array): string | null {
  const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  let end = buf.indexOf('\r\n\r\n');
  if (end === -1) end = buf.indexOf('\n\n');
  const head = buf.toString('latin1', 0, end === -1 ? Math.min(buf.length, 64 * 1024) : end);
  const m = /^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^>\r\n]+>)/im.exec(head);
  return m ? m[1]! : null;
}
