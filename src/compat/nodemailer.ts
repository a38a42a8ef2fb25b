/**
 * `smtpwire/nodemailer`: nodemailer's SMTP transport API over `SmtpProtocolHandler`, for moving an
 * application across by changing its import line:
 *
 * ```ts
 * import nodemailer from 'smtpwire/nodemailer';   // was: from 'nodemailer'
 * const transporter = nodemailer.createTransport({ host, port, secure, auth: { user, pass } });
 * const info = await transporter.sendMail({ from, to, subject, text, html, attachments });
 * ```
 *
 * What differs, on purpose: options and mail fields smtpwire cannot honour throw (transport options
 * at `createTransport`, mail fields as an `EMESSAGE` rejection) instead of being ignored; a connection
 * lost after the message was handed over rejects with `ERR_SMTP_OUTCOME_UNKNOWN` and
 * `messageHandedOver: true` (nodemailer reports it as an ordinary failure, inviting a duplicate).
 * Nothing here is retried (nodemailer does not retry either).
 */
import { EventEmitter } from 'node:events';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type tls from 'node:tls';
import type { SmtpEncryption } from '../enums.js';
import { InvalidArgumentError, type SmtpError } from '../errors.js';
import { flattenAddresses, formatAddress, parseAddressList } from '../message/address.js';
import type { AttachmentInput } from '../message/types.js';
import { assertKnownKeys, assertKnownNestedKeys, assertObject } from '../options.js';
import { type SendMessageOptions, SmtpProtocolHandler, type SmtpProtocolHandlerOptions } from '../send/handler.js';
import type { DeliveryResult } from '../send/result.js';
import {
  fromResult,
  fromSmtpError,
  type NodemailerError,
  nodemailerError,
  recipientError,
} from './nodemailer-errors.js';

export type { NodemailerError, NodemailerErrorCode } from './nodemailer-errors.js';

/** nodemailer's SMTP transport options that smtpwire honours. */
export interface NodemailerSmtpOptions {
  /** nodemailer's LMTP switch: smtpwire's `protocol: 'lmtp'` (LHLO, one reply per recipient). */
  lmtp?: boolean;
  /** Default `'localhost'`, as nodemailer. */
  host?: string;
  /** Default 465 when `secure`, else 587. */
  port?: number;
  /** Implicit TLS from the first byte (port 465). Default false: STARTTLS when offered. */
  secure?: boolean;
  auth?: NodemailerAuth;
  /** An AUTH mechanism (`'PLAIN'`, `'LOGIN'`, `'CRAM-MD5'`, `'XOAUTH2'`). */
  authMethod?: string;
  /** Keep connections open between messages. smtpwire always pools; false closes each after one message. */
  pool?: boolean;
  /** Parallel connections, default 5. */
  maxConnections?: number;
  /** Messages per connection with `pool: true`, default 100. */
  maxMessages?: number;
  /** Fail when STARTTLS is not offered (smtpwire `encryption: 'tls'`). */
  requireTLS?: boolean;
  /** Never STARTTLS (smtpwire `encryption: 'none'`). */
  ignoreTLS?: boolean;
  /** Passed to `tls.connect`. */
  tls?: tls.ConnectionOptions;
  /** EHLO name. */
  name?: string;
  /** ms, default 120 000. */
  connectionTimeout?: number;
  /** ms, default 30 000. */
  greetingTimeout?: number;
  /** ms of silence allowed while waiting for any reply, default 600 000. */
  socketTimeout?: number;
  /** Only `false` (the default) is accepted: use `onTranscript` of smtpwire for a protocol log. */
  logger?: false;
  debug?: false;
}

/** `auth` of nodemailer: a password, or an OAuth 2 access token (no token refresh here). */
export interface NodemailerAuth {
  type?: 'login' | 'LOGIN' | 'oauth2' | 'OAuth2' | 'OAUTH2';
  user?: string;
  pass?: string;
  accessToken?: string;
  /** Same as the transport's `authMethod`. */
  method?: string;
}

/** An address as nodemailer takes it: `'a@b.example'`, `'Name <a@b.example>, c@d.example'` or `{ name, address }`. */
export type NodemailerAddress = string | { name?: string; address: string };
export type NodemailerAddressList = NodemailerAddress | readonly NodemailerAddress[];

export interface NodemailerAttachment {
  filename?: string | false;
  content?: string | Buffer | Uint8Array | Readable;
  path?: string;
  contentType?: string;
  /** Encoding of a string `content`: `'base64'`, `'hex'`, `'binary'`, `'utf8'` … */
  encoding?: BufferEncoding;
  cid?: string;
  contentDisposition?: 'attachment' | 'inline';
  headers?: Record<string, string>;
}

/** nodemailer's message fields (those smtpwire maps; the others reject with `EMESSAGE`). */
export interface NodemailerMail {
  from?: NodemailerAddress;
  to?: NodemailerAddressList;
  cc?: NodemailerAddressList;
  bcc?: NodemailerAddressList;
  replyTo?: NodemailerAddressList;
  inReplyTo?: string;
  references?: string | readonly string[];
  subject?: string;
  text?: string | Buffer;
  html?: string | Buffer;
  attachments?: readonly NodemailerAttachment[];
  headers?: Record<string, string>;
  messageId?: string;
  date?: Date | string;
  envelope?: {
    from?: NodemailerAddress;
    to?: NodemailerAddressList;
    cc?: NodemailerAddressList;
    bcc?: NodemailerAddressList;
  };
  priority?: 'high' | 'normal' | 'low';
  list?: Record<string, unknown>;
  icalEvent?: Record<string, unknown> | string;
  alternatives?: readonly Record<string, unknown>[];
  /** A complete RFC 5322 message: sent as is (`sendRaw`), with the envelope from `envelope` or the address fields. */
  raw?: string | Buffer;
}

/** What `sendMail` resolves to, as nodemailer's SMTP transport. */
export interface NodemailerInfo {
  messageId: string;
  envelope: { from: string | false; to: string[] };
  accepted: string[];
  rejected: string[];
  /** Refused recipient → the server's reply, when some were refused. */
  rejectedErrors?: NodemailerError[];
  pending: string[];
  /** The server's reply to the message (usually with its queue ID). */
  response: string;
  /** smtpwire's full result. */
  result: DeliveryResult;
}

type Callback<T> = (err: NodemailerError | null, value?: T) => void;

const TRANSPORT_KEYS = [
  'lmtp',
  'host',
  'port',
  'secure',
  'auth',
  'authMethod',
  'pool',
  'maxConnections',
  'maxMessages',
  'requireTLS',
  'ignoreTLS',
  'tls',
  'name',
  'connectionTimeout',
  'greetingTimeout',
  'socketTimeout',
  'logger',
  'debug',
];

/** nodemailer transport options smtpwire does not implement, and why. */
const UNSUPPORTED_TRANSPORT: Record<string, string> = {
  service: "well-known services are not built in: give 'host', 'port' and 'secure'",
  url: "connection URLs are not parsed: give 'host', 'port', 'secure' and 'auth'",
  proxy: 'proxies are not supported',
  dkim: "DKIM signing is smtpwire's dkim option (see the README), not nodemailer's",
  localAddress: 'binding a local address is not supported',
  opportunisticTLS: 'secure: false already upgrades when STARTTLS is offered',
  disableFileAccess: 'file access cannot be turned off here: do not pass paths you do not trust',
  disableUrlAccess: 'attachments from URLs are never fetched',
  rateDelta: "rate limits are smtpwire's pool.rateLimit (handler option), not available here",
  rateLimit: "rate limits are smtpwire's pool.rateLimit (handler option), not available here",
};

const AUTH_KEYS = ['type', 'user', 'pass', 'accessToken', 'method'];
const AUTH_UNSUPPORTED: Record<string, string> = {
  clientId: 'token refresh is not supported: pass a fresh accessToken',
  clientSecret: 'token refresh is not supported: pass a fresh accessToken',
  refreshToken: 'token refresh is not supported: pass a fresh accessToken',
  expires: 'token refresh is not supported: pass a fresh accessToken',
  serviceClient: 'service-account tokens are not supported: pass a fresh accessToken',
  privateKey: 'service-account tokens are not supported: pass a fresh accessToken',
};

const MAIL_KEYS = [
  'from',
  'to',
  'cc',
  'bcc',
  'replyTo',
  'inReplyTo',
  'references',
  'subject',
  'text',
  'html',
  'attachments',
  'headers',
  'messageId',
  'date',
  'envelope',
  'priority',
  'list',
  'icalEvent',
  'alternatives',
  'raw',
];
const ATTACHMENT_KEYS = [
  'filename',
  'content',
  'path',
  'contentType',
  'encoding',
  'cid',
  'contentDisposition',
  'headers',
];

/**
 * A transport with nodemailer's SMTP options. Bad options throw here, as every smtpwire constructor.
 * @throws InvalidArgumentError naming the option (nodemailer options smtpwire does not implement say why).
 */
export function createTransport(
  options: NodemailerSmtpOptions = {},
  defaults: NodemailerMail = {},
): NodemailerTransport {
  return new NodemailerTransport(options, defaults);
}

/** The handler options equivalent to nodemailer's SMTP options. @throws InvalidArgumentError. */
export function handlerOptions(options: NodemailerSmtpOptions): SmtpProtocolHandlerOptions {
  assertObject(options, 'createTransport options');
  assertKnownKeys(options, TRANSPORT_KEYS, 'createTransport options', UNSUPPORTED_TRANSPORT);
  for (const flag of ['logger', 'debug'] as const) {
    if (options[flag] !== undefined && options[flag] !== false) {
      throw new InvalidArgumentError(`${flag}: only false is accepted; smtpwire logs through onTranscript`, {
        field: flag,
      });
    }
  }
  const encryption: SmtpEncryption = options.secure ? 'ssl' : options.ignoreTLS ? 'none' : 'tls';
  if (options.secure && options.ignoreTLS)
    throw new InvalidArgumentError('secure and ignoreTLS contradict each other', { field: 'ignoreTLS' });
  const auth = options.auth;
  let credentials: Partial<SmtpProtocolHandlerOptions> = {};
  let authMethod = options.authMethod;
  if (auth !== undefined) {
    assertObject(auth, 'auth');
    assertKnownNestedKeys(auth, AUTH_KEYS, 'auth', AUTH_UNSUPPORTED);
    authMethod = auth.method ?? authMethod;
    if (auth.type !== undefined && auth.type.toUpperCase() === 'OAUTH2') {
      if (auth.accessToken === undefined)
        throw new InvalidArgumentError('auth.type OAuth2 needs auth.accessToken (no token refresh here)', {
          field: 'auth.accessToken',
        });
      credentials = { username: auth.user, accessToken: auth.accessToken };
      authMethod = 'XOAUTH2';
    } else if (auth.user !== undefined || auth.pass !== undefined) {
      credentials = { username: auth.user, password: auth.pass };
    }
  }
  const pooled = options.pool === true;
  const timeouts = {
    ...(options.connectionTimeout === undefined ? { connect: 120_000 } : { connect: options.connectionTimeout }),
    ...(options.greetingTimeout === undefined ? {} : { greeting: options.greetingTimeout }),
    // nodemailer's socketTimeout is any silence on the socket: every reply wait and the body's progress.
    ...(options.socketTimeout === undefined
      ? {}
      : { command: options.socketTimeout, dataIdle: options.socketTimeout, finalReply: options.socketTimeout }),
  };
  const lmtp = options.lmtp === true;
  return {
    hostname: options.host ?? 'localhost',
    port: options.port ?? (lmtp ? 24 : options.secure ? 465 : 587),
    ...(lmtp ? { protocol: 'lmtp' as const } : {}),
    encryption,
    // nodemailer upgrades when STARTTLS is offered and goes on in plaintext when not, unless requireTLS.
    ...(encryption === 'tls' && !options.requireTLS ? { opportunisticTls: true } : {}),
    ...credentials,
    ...(authMethod === undefined
      ? {}
      : { authMethod: authMethod.toUpperCase() as SmtpProtocolHandlerOptions['authMethod'] }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.name === undefined ? {} : { clientName: options.name }),
    timeouts,
    poolSize: options.maxConnections ?? 5,
    pool: { maxMessagesPerConnection: pooled ? (options.maxMessages ?? 100) : 1 },
    retryPolicy: { maxRetries: 0 },
  };
}

/** nodemailer's transporter: `sendMail`, `verify`, `close`, `isIdle` and an `'idle'` event. */
export class NodemailerTransport extends EventEmitter {
  /** The smtpwire handler underneath (for its pool stats, `onTranscript` is set at creation). */
  readonly handler: SmtpProtocolHandler;
  readonly #defaults: NodemailerMail;
  readonly #slots: number;
  #pending = 0;

  constructor(options: NodemailerSmtpOptions = {}, defaults: NodemailerMail = {}) {
    super();
    const handlerOpts = handlerOptions(options);
    this.handler = new SmtpProtocolHandler(handlerOpts);
    this.#slots = handlerOpts.poolSize ?? 5;
    assertObject(defaults, 'defaults');
    assertKnownKeys(defaults, MAIL_KEYS, 'createTransport defaults');
    this.#defaults = defaults;
  }

  /** Sends one message; resolves with nodemailer's info, or calls `callback(err, info)`. */
  sendMail(mail: NodemailerMail): Promise<NodemailerInfo>;
  sendMail(mail: NodemailerMail, callback: Callback<NodemailerInfo>): void;
  sendMail(mail: NodemailerMail, callback?: Callback<NodemailerInfo>): Promise<NodemailerInfo> | undefined {
    const promise = this.#send({ ...this.#defaults, ...mail });
    return settle(promise, callback);
  }

  /** Connects (TLS and AUTH included) and sends a NOOP; resolves true, rejects with the mapped error. */
  verify(): Promise<true>;
  verify(callback: Callback<true>): void;
  verify(callback?: Callback<true>): Promise<true> | undefined {
    const promise = this.handler.testConnection().then((ok) => {
      if (ok) return true as const;
      throw fromSmtpError(this.handler.lastError, null);
    });
    return settle(promise, callback);
  }

  /** True while a new message would not wait for a connection. */
  isIdle(): boolean {
    return this.#pending < this.#slots;
  }

  /** Waits for messages in flight, then closes every connection (QUIT). */
  close(): Promise<void> {
    return this.handler.close();
  }

  async #send(mail: NodemailerMail): Promise<NodemailerInfo> {
    this.#pending++;
    try {
      const { result, envelope } = await this.#deliver(mail);
      if (result.status !== 'success') throw fromResult(result);
      const rejected = Object.keys(result.recipientFailures);
      const response = (result as { response?: string | null }).response;
      return {
        messageId: result.messageId ?? '',
        envelope,
        accepted: result.acceptedRecipients ?? [],
        rejected,
        ...(rejected.length ? { rejectedErrors: rejected.map((r) => recipientError(r, result)) } : {}),
        pending: [],
        // `response` is the whole final reply (with the queue ID) where the handler reports it.
        response: response ?? `${result.smtpCode ?? 250}${result.enhancedCode ? ` ${result.enhancedCode}` : ''}`,
        result,
      };
    } finally {
      this.#pending--;
      if (this.isIdle()) this.emit('idle');
    }
  }

  async #deliver(mail: NodemailerMail): Promise<{ result: DeliveryResult; envelope: NodemailerInfo['envelope'] }> {
    let message: SendMessageOptions | null;
    let envelope: NodemailerInfo['envelope'];
    try {
      assertObject(mail, 'mail');
      assertKnownKeys(mail, MAIL_KEYS, 'sendMail');
      envelope = mailEnvelope(mail);
      message = mail.raw === undefined ? toMessage(mail) : null;
    } catch (err) {
      throw nodemailerError('EMESSAGE', (err as Error).message, { cause: err, smtpwireCode: (err as SmtpError).code });
    }
    if (message === null) {
      if (envelope.from === false && envelope.to.length === 0)
        throw nodemailerError('EENVELOPE', 'No recipients defined');
      const result = await this.handler.sendRaw({ from: envelope.from || '', to: envelope.to }, mail.raw!, {
        retry: false,
      });
      return { result, envelope };
    }
    const result = await this.handler.sendMessage({ ...message, retry: false });
    return { result, envelope };
  }
}

/** Addresses from nodemailer's forms, as RFC 5322 strings (one mailbox each; groups are flattened). */
function addresses(list: NodemailerAddressList | undefined, field: string): string[] {
  if (list === undefined || list === null) return [];
  const items = Array.isArray(list) ? list : [list];
  const out: string[] = [];
  for (const item of items as NodemailerAddress[]) {
    if (typeof item === 'string') {
      for (const m of flattenAddresses(parseAddressList(item))) out.push(formatAddress(m));
    } else if (item && typeof item === 'object' && typeof item.address === 'string') {
      out.push(formatAddress({ name: item.name ?? null, address: item.address }));
    } else {
      throw new InvalidArgumentError(`${field} must be an address string or { name, address }`, { field });
    }
  }
  return out;
}

/** The bare address of an RFC 5322 mailbox string. */
function bare(mailbox: string): string {
  return flattenAddresses(parseAddressList(mailbox))[0]?.address ?? mailbox;
}

/** The SMTP envelope nodemailer would use: `envelope` when given, else from + to + cc + bcc. */
function mailEnvelope(mail: NodemailerMail): NodemailerInfo['envelope'] {
  const e = mail.envelope;
  const fromList = addresses(e?.from ?? mail.from, 'from');
  const to = e
    ? [...addresses(e.to, 'envelope.to'), ...addresses(e.cc, 'envelope.cc'), ...addresses(e.bcc, 'envelope.bcc')]
    : [...addresses(mail.to, 'to'), ...addresses(mail.cc, 'cc'), ...addresses(mail.bcc, 'bcc')];
  return { from: fromList[0] === undefined ? false : bare(fromList[0]), to: [...new Set(to.map(bare))] };
}

/** nodemailer's fields → `sendMessage` options. @throws InvalidArgumentError for what cannot be mapped. */
function toMessage(mail: NodemailerMail): SendMessageOptions {
  const from = addresses(mail.from, 'from');
  if (from.length > 1) throw new InvalidArgumentError('from must be a single address', { field: 'from' });
  const replyTo = addresses(mail.replyTo, 'replyTo');
  const customHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(mail.headers ?? {})) {
    if (typeof value !== 'string')
      throw new InvalidArgumentError(`headers.${name}: only string values are supported`, { field: `headers.${name}` });
    customHeaders[name] = value;
  }
  if (mail.inReplyTo !== undefined) customHeaders['In-Reply-To'] = bracket(mail.inReplyTo);
  if (mail.references !== undefined) {
    const refs = typeof mail.references === 'string' ? mail.references.split(/\s+/) : mail.references;
    customHeaders.References = refs.filter(Boolean).map(bracket).join(' ');
  }
  const e = mail.envelope;
  const optional: Record<string, unknown> = {
    ccAddresses: mail.cc === undefined ? undefined : addresses(mail.cc, 'cc'),
    bccAddresses: mail.bcc === undefined ? undefined : addresses(mail.bcc, 'bcc'),
    replyTo: replyTo.length === 0 ? undefined : replyTo.length === 1 ? replyTo[0] : replyTo,
    textBody: bodyText(mail.text, 'text'),
    htmlBody: bodyText(mail.html, 'html'),
    attachments: mail.attachments?.map(attachment),
    customHeaders: Object.keys(customHeaders).length ? customHeaders : undefined,
    messageId: mail.messageId === undefined ? undefined : bracket(mail.messageId),
    date: mail.date === undefined ? undefined : new Date(mail.date),
    envelope: e
      ? {
          from: mailEnvelope(mail).from || '',
          to: mailEnvelope(mail).to,
        }
      : undefined,
    // Fields the MIME builder owns under the same names.
    priority: mail.priority,
    list: mail.list,
    icalEvent: mail.icalEvent,
    alternatives: mail.alternatives,
  };
  const message: Record<string, unknown> = {
    toAddresses: addresses(mail.to, 'to'),
    subject: mail.subject ?? '',
    ...(from[0] === undefined ? {} : { fromAddress: from[0] }),
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) message[key] = value;
  return message as unknown as SendMessageOptions;
}

function bodyText(value: string | Buffer | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  throw new InvalidArgumentError(`${field} must be a string or a Buffer (streams and { path } are not supported)`, {
    field,
  });
}

let attachmentCount = 0;
function attachment(a: NodemailerAttachment, index: number): AttachmentInput {
  assertObject(a, `attachments[${index}]`);
  assertKnownNestedKeys(a, ATTACHMENT_KEYS, `attachments[${index}]`, {
    href: 'attachments from URLs are not fetched: download first and pass content',
    raw: 'raw attachment parts are not supported',
  });
  let content = a.content;
  if (typeof content === 'string' && a.encoding !== undefined && a.encoding !== 'utf8' && a.encoding !== 'utf-8')
    content = Buffer.from(content, a.encoding);
  const filename =
    typeof a.filename === 'string'
      ? a.filename
      : a.path !== undefined
        ? basename(a.path)
        : `attachment-${++attachmentCount}`;
  const out: Record<string, unknown> = { filename };
  if (content !== undefined) out.content = content;
  if (a.path !== undefined) out.path = a.path;
  if (a.contentType !== undefined) out.contentType = a.contentType;
  if (a.cid !== undefined) out.cid = a.cid;
  if (a.contentDisposition !== undefined) out.contentDisposition = a.contentDisposition;
  if (a.headers !== undefined) out.headers = a.headers;
  return out as unknown as AttachmentInput;
}

function bracket(id: string): string {
  const t = id.trim();
  return t.startsWith('<') ? t : `<${t}>`;
}

/** A promise, or nodemailer's callback style when a callback is given. */
function settle<T>(promise: Promise<T>, callback: Callback<T> | undefined): Promise<T> | undefined {
  if (callback === undefined) return promise;
  promise.then(
    (value) => callback(null, value),
    (err: NodemailerError) => callback(err),
  );
  return undefined;
}

/** `import nodemailer from 'smtpwire/nodemailer'` as `import nodemailer from 'nodemailer'`. */
export default { createTransport };
