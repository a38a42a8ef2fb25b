/**
 * nodemailer's `mail` object as plugins see it (`use('compile' | 'stream', plugin)`): `mail.data`
 * (the message fields, defaults merged as nodemailer merges them), `mail.resolveContent(data, key,
 * [options], callback)`, and from the stream step on `mail.message` (`getEnvelope()`,
 * `messageId()`, `transform()`, `processFunc()`).
 */
import { Readable, type Transform } from 'node:stream';
import type { Composed } from './compose.js';
import { type AccessPolicy, resolveContent } from './content.js';
import type { MailData } from './types.js';

const FORCED_FROM_OPTIONS = ['disableFileAccess', 'disableUrlAccess', 'normalizeHeaderKey', 'maxRecipients'] as const;

const own = (o: object, k: string): boolean => Object.hasOwn(o, k);

/** `mail.data`: the message's own keys, then the defaults' (headers merged key by key), then the forced options. */
export function mergeDefaults(data: MailData, defaults: MailData, options: Record<string, unknown>): MailData {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data ?? {})) if (k !== '__proto__') out[k] = v;
  const headers: Record<string, unknown> = Array.isArray(out.headers) ? {} : { ...(out.headers as object) };
  for (const [k, v] of Object.entries(defaults ?? {})) if (k !== '__proto__' && !own(out, k)) out[k] = v;
  if (!Array.isArray(out.headers)) {
    const defaultHeaders = defaults?.headers;
    if (defaultHeaders && typeof defaultHeaders === 'object' && !Array.isArray(defaultHeaders))
      for (const [k, v] of Object.entries(defaultHeaders)) if (!own(headers, k)) headers[k] = v;
    out.headers = headers;
  }
  for (const key of FORCED_FROM_OPTIONS) if (key in options) out[key] = options[key];
  // A sandbox flag in the defaults can only be switched on by the message, never off.
  for (const key of ['disableFileAccess', 'disableUrlAccess'] as const)
    if (!(key in options) && defaults && own(defaults, key)) out[key] = out[key] || defaults[key];
  return out as MailData;
}

type Step = (input: Readable) => Readable;

export class CompatMailMessage {
  readonly data: MailData;
  readonly mailer: unknown;
  /** Set once the message is composed (the 'stream' step on). */
  message: MessageView | null = null;

  constructor(mailer: unknown, data: MailData) {
    this.mailer = mailer;
    this.data = data;
  }

  /** nodemailer's `resolveContent(data, key, [options], callback)`: the access policy can only tighten. */
  resolveContent(
    data: Record<string | number, unknown>,
    key: string | number,
    options: AccessPolicy | ((err: Error | null, value?: string | Buffer) => void),
    callback?: (err: Error | null, value?: string | Buffer) => void,
  ): Promise<string | Buffer | null> {
    const cb = typeof options === 'function' ? options : callback;
    const extra = typeof options === 'function' ? {} : (options ?? {});
    const policy = {
      disableFileAccess: this.data.disableFileAccess === true || extra.disableFileAccess === true,
      disableUrlAccess: this.data.disableUrlAccess === true || extra.disableUrlAccess === true,
    };
    const value = data[key];
    const promise = resolveContent(value, policy, String(key)).then((v) => {
      // A stream is read once: keep its bytes in place so the message can still use them.
      if (value && typeof value === 'object' && typeof (value as Readable).pipe === 'function') data[key] = v;
      return v;
    });
    if (cb)
      promise.then(
        (v) => cb(null, v ?? undefined),
        (err: Error) => cb(err),
      );
    return promise;
  }
}

/** `mail.message` for stream plugins: the composed message and the transforms they add. */
export class MessageView {
  readonly #composed: Composed;
  readonly #steps: Step[] = [];
  #final: Buffer | null = null;
  /** nodemailer's flag for transports that keep the Bcc field; smtpwire never writes one (README). */
  keepBcc = false;

  constructor(composed: Composed) {
    this.#composed = composed;
  }

  getEnvelope(): Composed['envelope'] {
    return this.#composed.envelope;
  }

  messageId(): string {
    return this.#composed.messageId;
  }

  transform(transform: Transform | (() => Transform)): void {
    this.#steps.push((input) => input.pipe(typeof transform === 'function' ? transform() : transform));
  }

  processFunc(fn: Step): void {
    this.#steps.push(fn);
  }

  /** The message bytes after every transform, bounded like any content. */
  async finish(read: (stream: Readable) => Promise<Buffer>): Promise<Buffer> {
    if (this.#steps.length === 0) return this.#composed.raw;
    let stream: Readable = Readable.from([this.#composed.raw]);
    for (const step of this.#steps) stream = step(stream);
    return read(stream);
  }

  /** The bytes a transport sends (after the stream plugins and DKIM). */
  setFinal(raw: Buffer): void {
    this.#final = raw;
  }

  /** For transport plugins: the message as a stream, as nodemailer's `mail.message.createReadStream()`. */
  createReadStream(): Readable {
    return Readable.from([this.#final ?? this.#composed.raw]);
  }

  /** For transport plugins: the message as one Buffer, as nodemailer's `mail.message.build(callback)`. */
  build(callback: (err: Error | null, message?: Buffer) => void): void {
    const raw = this.#final ?? this.#composed.raw;
    setImmediate(() => callback(null, raw));
  }
}
