/**
 * nodemailer's type names (`Transporter`, `SendMailOptions`, `SentMessageInfo`, `TransportOptions`,
 * the `Mail` and `SMTPTransport` namespaces …) for `smtpwire/nodemailer`, so a typed program
 * compiles after its import line changes. Shapes follow nodemailer's documentation; only types.
 */
import type { EventEmitter } from 'node:events';
import type { Readable, Transform } from 'node:stream';
import type tls from 'node:tls';
import type { DeliveryResult } from '../../send/result.js';
import type { NodemailerError } from './errors.js';

export declare namespace Mail {
  interface Address {
    name: string;
    address: string;
  }
  type AddressLike = string | Address;
  type AddressList = AddressLike | AddressLike[];

  /** A content source: text, bytes, a stream, a file or URL, or `{ content, encoding }`. */
  interface AttachmentLike {
    content?: string | Buffer | Readable | undefined;
    path?: string | undefined;
  }
  interface Attachment extends AttachmentLike {
    filename?: string | false | undefined;
    cid?: string | undefined;
    encoding?: string | undefined;
    contentType?: string | undefined;
    contentTransferEncoding?: '7bit' | 'base64' | 'quoted-printable' | false | undefined;
    contentDisposition?: 'attachment' | 'inline' | undefined;
    headers?: Headers | undefined;
    raw?: string | Buffer | Readable | AttachmentLike | undefined;
    href?: string | undefined;
    httpHeaders?: Record<string, string> | undefined;
  }
  interface AmpAttachment extends AttachmentLike {
    href?: string | undefined;
    encoding?: string | undefined;
    contentType?: string | undefined;
    raw?: string | Buffer | Readable | AttachmentLike | undefined;
  }
  interface IcalAttachment extends AttachmentLike {
    method?: string | undefined;
    filename?: string | false | undefined;
    href?: string | undefined;
    encoding?: string | undefined;
  }
  interface Envelope {
    from?: string | Address | false | undefined;
    to?: AddressList | undefined;
    cc?: AddressList | undefined;
    bcc?: AddressList | undefined;
  }
  interface ListHeader {
    url: string;
    comment: string;
  }
  type ListHeaderValue = string | ListHeader | (string | ListHeader)[];
  interface ListHeaders {
    [key: string]: ListHeaderValue | ListHeaderValue[];
  }
  type HeaderValue = string | string[] | { prepared: boolean; value: string };
  type Headers = { [key: string]: HeaderValue } | { key: string; value: string }[];
  type TextEncoding = 'quoted-printable' | 'base64';
  interface DsnOptions {
    id?: string | undefined;
    return?: 'headers' | 'full' | undefined;
    notify?: string | string[] | undefined;
    recipient?: string | undefined;
  }
  type PluginFunction<T = unknown> = (mail: MailMessage<T>, callback: (err?: Error | null) => void) => void;

  interface Options {
    from?: string | Address | undefined;
    sender?: string | Address | undefined;
    to?: AddressList | undefined;
    cc?: AddressList | undefined;
    bcc?: AddressList | undefined;
    replyTo?: AddressList | undefined;
    inReplyTo?: string | Address | undefined;
    references?: string | string[] | undefined;
    subject?: string | undefined;
    text?: string | Buffer | Readable | AttachmentLike | undefined;
    html?: string | Buffer | Readable | AttachmentLike | undefined;
    watchHtml?: string | Buffer | Readable | AttachmentLike | undefined;
    amp?: string | Buffer | Readable | AmpAttachment | undefined;
    icalEvent?: string | Buffer | Readable | IcalAttachment | undefined;
    headers?: Headers | undefined;
    list?: ListHeaders | undefined;
    attachments?: Attachment[] | undefined;
    alternatives?: Attachment[] | undefined;
    envelope?: Envelope | undefined;
    messageId?: string | undefined;
    date?: Date | string | undefined;
    encoding?: string | undefined;
    raw?: string | Buffer | Readable | AttachmentLike | undefined;
    textEncoding?: TextEncoding | undefined;
    disableUrlAccess?: boolean | undefined;
    disableFileAccess?: boolean | undefined;
    dkim?: DkimOptions | undefined;
    normalizeHeaderKey?: ((key: string) => string) | undefined;
    priority?: 'high' | 'normal' | 'low' | undefined;
    attachDataUrls?: boolean | undefined;
    dsn?: DsnOptions | undefined;
    xMailer?: string | false | undefined;
    /** Plugins (nodemailer-express-handlebars) read their own fields from here. */
    [plugin: string]: unknown;
  }
}

/** nodemailer's `mail` object as plugins see it. */
export interface MailMessage<T = unknown> {
  data: Mail.Options;
  mailer: Transporter<T>;
  message: {
    getEnvelope(): { from: string | false; to: string[] };
    messageId(): string;
    /** A transform stream (or a factory of one) applied to the message bytes. */
    transform(transform: Transform | (() => Transform)): void;
    processFunc(fn: (input: Readable) => Readable): void;
    /** For transport plugins: the message bytes. */
    createReadStream(): Readable;
    build(callback: (err: Error | null, message?: Buffer) => void): void;
  } | null;
  resolveContent(
    data: object,
    key: string | number,
    callback: (err: Error | null, value?: string | Buffer) => void,
  ): void;
  resolveContent(
    data: object,
    key: string | number,
    options: { disableFileAccess?: boolean; disableUrlAccess?: boolean },
    callback: (err: Error | null, value?: string | Buffer) => void,
  ): void;
}

export interface DkimOptions {
  domainName: string;
  keySelector: string;
  privateKey: string | { key: string; passphrase?: string };
  headerFieldNames?: string | undefined;
  skipFields?: string | undefined;
  hashAlgo?: 'sha256' | 'sha1' | undefined;
  cacheDir?: string | false | undefined;
  cacheTreshold?: number | undefined;
  keys?: DkimOptions[] | undefined;
}

export interface Logger {
  level(level: string): void;
  trace(...params: unknown[]): void;
  debug(...params: unknown[]): void;
  info(...params: unknown[]): void;
  warn(...params: unknown[]): void;
  error(...params: unknown[]): void;
  fatal(...params: unknown[]): void;
}

export interface TransportOptions {
  component?: string | undefined;
}

export declare namespace SMTPTransport {
  interface AuthenticationTypeLogin {
    type?: 'login' | 'Login' | 'LOGIN' | undefined;
    user?: string | undefined;
    credentials?: { user: string; pass: string } | undefined;
    pass?: string | undefined;
    method?: string | undefined;
  }
  interface AuthenticationTypeOAuth2 {
    type?: 'oauth2' | 'OAuth2' | 'OAUTH2' | undefined;
    user?: string | undefined;
    clientId?: string | undefined;
    clientSecret?: string | undefined;
    refreshToken?: string | undefined;
    accessToken?: string | undefined;
    expires?: number | undefined;
    accessUrl?: string | undefined;
    serviceClient?: string | undefined;
    privateKey?: string | { key: string; passphrase: string } | undefined;
    method?: string | undefined;
  }
  type AuthenticationType = AuthenticationTypeLogin | AuthenticationTypeOAuth2;

  interface Options extends Mail.Options, TransportOptions {
    service?: string | undefined;
    url?: string | undefined;
    host?: string | undefined;
    port?: number | undefined;
    secure?: boolean | undefined;
    auth?: AuthenticationType | undefined;
    authMethod?: string | undefined;
    ignoreTLS?: boolean | undefined;
    requireTLS?: boolean | undefined;
    opportunisticTLS?: boolean | undefined;
    name?: string | undefined;
    localAddress?: string | undefined;
    connectionTimeout?: number | undefined;
    greetingTimeout?: number | undefined;
    socketTimeout?: number | undefined;
    dnsTimeout?: number | undefined;
    logger?: Logger | boolean | undefined;
    transactionLog?: boolean | undefined;
    debug?: boolean | undefined;
    tls?: tls.ConnectionOptions | undefined;
    lmtp?: boolean | undefined;
    pool?: boolean | undefined;
    maxConnections?: number | undefined;
    maxMessages?: number | undefined;
    rateDelta?: number | undefined;
    rateLimit?: number | undefined;
    proxy?: string | undefined;
  }
  interface MailOptions extends Mail.Options {
    auth?: AuthenticationType | undefined;
    dsn?: Mail.DsnOptions | undefined;
  }
  interface SentMessageInfo {
    envelope: { from: string | false; to: string[] };
    messageId: string;
    accepted: (string | Mail.Address)[];
    rejected: (string | Mail.Address)[];
    rejectedErrors?: NodemailerError[] | undefined;
    pending?: (string | Mail.Address)[] | undefined;
    response: string;
    envelopeTime?: number | undefined;
    messageTime?: number | undefined;
    messageSize?: number | undefined;
    ehlo?: string[] | undefined;
    /** smtpwire's full result. */
    result?: DeliveryResult | undefined;
  }
}

export declare namespace SMTPPool {
  type Options = SMTPTransport.Options;
  type SentMessageInfo = SMTPTransport.SentMessageInfo;
}

export declare namespace JSONTransport {
  interface Options extends Mail.Options, TransportOptions {
    jsonTransport: true;
    skipEncoding?: boolean | undefined;
  }
  interface SentMessageInfo {
    envelope: { from: string | false; to: string[] };
    messageId: string;
    message: string;
    accepted: string[];
    rejected: string[];
    pending: string[];
    response: string;
  }
}

export declare namespace StreamTransport {
  interface Options extends Mail.Options, TransportOptions {
    streamTransport: true;
    buffer?: boolean | undefined;
    newline?: 'windows' | 'unix' | '\r\n' | '\n' | undefined;
  }
  interface SentMessageInfo {
    envelope: { from: string | false; to: string[] };
    messageId: string;
    message: Buffer | Readable;
    accepted: string[];
    rejected: string[];
    pending: string[];
    response: string;
  }
}

export declare namespace SendmailTransport {
  interface Options extends Mail.Options, TransportOptions {
    sendmail: true;
    path?: string | undefined;
    newline?: 'windows' | 'unix' | '\r\n' | '\n' | undefined;
    args?: string[] | undefined;
  }
  interface SentMessageInfo {
    envelope: { from: string | false; to: string[] };
    messageId: string;
    response: string;
  }
}

export type SendMailOptions = Mail.Options;
export type MailData = Mail.Options;
// biome-ignore lint/suspicious/noExplicitAny: nodemailer's own default, so untyped programs keep compiling
export type SentMessageInfo = any;

export interface Transport<T = unknown> {
  name: string;
  version: string;
  send(mail: MailMessage<T>, callback: (err: Error | null, info: T) => void): void;
}

export interface TestAccount {
  user: string;
  pass: string;
  smtp: { host: string; port: number; secure: boolean };
  imap: { host: string; port: number; secure: boolean };
  pop3: { host: string; port: number; secure: boolean };
  web: string;
}

/** nodemailer's transporter (its `Mail` class). */
// biome-ignore lint/suspicious/noExplicitAny: nodemailer's default type parameter
export interface Transporter<T = any, _D = TransportOptions> extends EventEmitter {
  options: object;
  sendMail(mailOptions: Mail.Options): Promise<T>;
  sendMail(mailOptions: Mail.Options, callback: (err: Error | null, info: T) => void): void;
  verify(): Promise<true>;
  verify(callback: (err: Error | null, success: true) => void): void;
  close(): void;
  isIdle(): boolean;
  use(step: 'compile' | 'stream' | string, plugin: Mail.PluginFunction<T>): this;
  set(key: string, value: unknown): Map<string, unknown>;
  get(key: string): unknown;
}
