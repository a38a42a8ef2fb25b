/**
 * nodemailer's transports besides SMTP, as programs and test suites use them: `jsonTransport`
 * (the message data as JSON), `streamTransport` (the message as a stream or, with `buffer`, a
 * Buffer; `newline`), and `sendmail` (the local binary, spawned with `-i -f <from> <to…>`).
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { guessContentType } from '../../message/mime/headers.js';
import { mailboxes } from './addresses.js';
import { isStream, resolveContent } from './content.js';
import { nodemailerError } from './errors.js';
import type { CompatLogger } from './logger.js';
import type { CompatTransport, Outgoing } from './transport.js';

const VERSION = '10.6.1[smtpwire]';

const isWindows = (newline: unknown): boolean =>
  ['win', 'windows', 'dos', '\r\n'].includes(String(newline ?? '').toLowerCase());

/** The message with the line breaks asked for (the composer writes CRLF). */
function withNewlines(raw: Buffer, newline: unknown): Buffer {
  if (newline === undefined || newline === null || newline === '') return raw;
  const lf = raw.toString('latin1').replace(/\r\n/g, '\n');
  return Buffer.from(isWindows(newline) ? lf.replace(/\n/g, '\r\n') : lf, 'latin1');
}

export class StreamTransport implements CompatTransport {
  readonly name = 'StreamTransport';
  readonly version = VERSION;
  readonly #options: Record<string, unknown>;
  constructor(options: Record<string, unknown>, _logger: CompatLogger) {
    this.#options = options;
  }
  async send(out: Outgoing) {
    const bytes = withNewlines(out.raw, this.#options.newline);
    return {
      envelope: out.envelope,
      messageId: out.messageId,
      message: this.#options.buffer ? bytes : Readable.from([bytes]),
    };
  }
}

/** `mail.data` as nodemailer's `normalize()` gives it: addresses as objects, contents resolved, bytes in base64. */
async function normalized(out: Outgoing): Promise<Record<string, unknown>> {
  const data: Record<string, unknown> = { ...out.data };
  const policy = {
    disableFileAccess: data.disableFileAccess === true,
    disableUrlAccess: data.disableUrlAccess === true,
  };
  for (const key of ['from', 'sender', 'to', 'cc', 'bcc', 'replyTo']) {
    if (!(key in data)) continue;
    const list = mailboxes(data[key], key).map((m) => ({ address: m.address, name: m.name }));
    data[key] = list.length === 0 ? null : key === 'from' || key === 'sender' ? list[0] : list;
  }
  for (const key of ['html', 'text', 'watchHtml', 'amp']) {
    if (data[key] === undefined || data[key] === null) continue;
    const v = await resolveContent(data[key], policy, key);
    data[key] = Buffer.isBuffer(v) ? v.toString() : v;
  }
  for (const key of ['attachments', 'alternatives']) {
    const list = data[key];
    if (!Array.isArray(list)) continue;
    data[key] = await Promise.all(
      list.map(async (a: Record<string, unknown>, i) => {
        const { path: _p, href: _h, ...rest } = a;
        // nodemailer's normalize() names the type of every attachment (from its file name).
        if (key === 'attachments' && rest.contentType === undefined)
          rest.contentType = guessContentType(typeof rest.filename === 'string' ? rest.filename : 'bin');
        const v = await resolveContent(a, policy, `${key}[${i}]`);
        return Buffer.isBuffer(v)
          ? { ...rest, content: v.toString('base64'), encoding: 'base64' }
          : { ...rest, content: v };
      }),
    );
  }
  if (isStream(data.raw)) data.raw = await resolveContent(data.raw, policy, 'raw');
  delete data.envelope;
  delete data.signal;
  data.messageId = out.messageId;
  return data;
}

export class JsonTransport implements CompatTransport {
  readonly name = 'JSONTransport';
  readonly version = VERSION;
  readonly #options: Record<string, unknown>;
  constructor(options: Record<string, unknown>, _logger: CompatLogger) {
    this.#options = options;
  }
  async send(out: Outgoing) {
    const data = await normalized(out);
    return {
      envelope: out.envelope,
      messageId: out.messageId,
      message: this.#options.skipEncoding ? data : JSON.stringify(data),
    };
  }
}

/** How long sendmail may take to take a message before it is given up on (its queue run is not awaited). */
const SENDMAIL_TIMEOUT_MS = 5 * 60_000;

export class SendmailTransport implements CompatTransport {
  readonly name = 'Sendmail';
  readonly version = VERSION;
  readonly #path: string;
  readonly #args: string[] | null;
  readonly #newline: unknown;
  constructor(options: Record<string, unknown>, _logger: CompatLogger) {
    const own = typeof options.sendmail === 'string' ? options.sendmail : undefined;
    this.#path = typeof options.path === 'string' ? options.path : (own ?? 'sendmail');
    this.#args = Array.isArray(options.args) ? options.args.map(String) : null;
    this.#newline = options.newline;
  }
  send(out: Outgoing) {
    const { envelope, messageId } = out;
    // An address starting with '-' would be read as an option by sendmail.
    if ([envelope.from || '', ...envelope.to].some((a) => /^"?-/.test(a)))
      return Promise.reject(nodemailerError('ESENDMAIL', 'Can not send mail. Invalid envelope addresses.'));
    const args = this.#args
      ? ['-i', ...this.#args, ...envelope.to]
      : ['-i', ...(envelope.from ? ['-f', envelope.from] : []), ...envelope.to];
    const bytes = withNewlines(out.raw, this.#newline);
    return new Promise<object>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          (err as { code?: string }).code ??= 'ESENDMAIL';
          reject(err);
        } else
          resolve({
            envelope,
            messageId,
            response: 'Messages queued for delivery',
          });
      };
      const child = spawn(this.#path, args, { stdio: ['pipe', 'ignore', 'ignore'] });
      const timer = setTimeout(() => {
        child.kill();
        finish(nodemailerError('ESENDMAIL', `Sendmail did not finish within ${SENDMAIL_TIMEOUT_MS} ms`));
      }, SENDMAIL_TIMEOUT_MS);
      child.once('error', (err) =>
        finish(Object.assign(err, { code: 'ESENDMAIL', originalCode: (err as NodeJS.ErrnoException).code })),
      );
      child.once('close', (code, signal) => {
        if (code)
          finish(
            nodemailerError(
              'ESENDMAIL',
              code === 127
                ? `Sendmail command not found, process exited with code ${code}`
                : `Sendmail exited with code ${code}`,
            ),
          );
        else if (signal) finish(nodemailerError('ESENDMAIL', `Sendmail was terminated by ${signal}`));
        else finish(null);
      });
      child.stdin.on('error', () => {
        // The exit code that follows says more than EPIPE.
      });
      child.stdin.end(bytes);
    });
  }
}

/** A transport object in nodemailer's plugin form: `{ name, version, send(mail, callback), verify?, close? }`. */
export interface TransportPlugin {
  name?: string;
  version?: string;
  mailer?: unknown;
  send(mail: unknown, callback: (err: Error | null, info?: object) => void): void;
  verify?(callback: (err: Error | null, ok?: true) => void): void;
  close?(): void;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}

export function isTransportPlugin(value: unknown): value is TransportPlugin {
  return value !== null && typeof value === 'object' && typeof (value as TransportPlugin).send === 'function';
}

/** A transport plugin (nodemailer's `createTransport(transport)`): given nodemailer's `mail` object. */
export class PluginTransport implements CompatTransport {
  readonly name: string;
  readonly version: string;
  readonly #plugin: TransportPlugin;
  readonly verify?: () => Promise<true>;
  constructor(plugin: TransportPlugin) {
    this.#plugin = plugin;
    this.name = plugin.name ?? 'Custom';
    this.version = plugin.version ?? '0';
    const verify = plugin.verify;
    if (typeof verify === 'function')
      this.verify = () =>
        new Promise<true>((resolve, reject) => verify.call(plugin, (err) => (err ? reject(err) : resolve(true))));
  }
  send(out: Outgoing): Promise<object> {
    return new Promise((resolve, reject) =>
      this.#plugin.send(out.mail, (err, info) => (err ? reject(err) : resolve(info ?? {}))),
    );
  }
  close(): void {
    this.#plugin.close?.();
  }
  on(event: string, listener: (...args: unknown[]) => void): unknown {
    return this.#plugin.on?.(event, listener);
  }
}
