/**
 * nodemailer's transporter (its `Mail` class) over any compat transport: `sendMail` (promise or
 * callback) runs the 'compile' plugins on `mail.data`, composes the message, runs the 'stream'
 * plugins on its bytes, signs it (DKIM in nodemailer's form, the core's signer), and hands it to
 * the transport. Also `use`, `verify`, `close`, `isIdle`, `set`/`get`, and the `'idle'`,
 * `'token'` and `'error'` events as nodemailer emits them.
 */
import { EventEmitter } from 'node:events';
import { ErrorCodes, InvalidArgumentError, SmtpError } from '../../errors.js';
import { dkimSign } from '../../message/dkim/message.js';
import { compose } from './compose.js';
import { readStream } from './content.js';
import { type NodemailerError, nodemailerError } from './errors.js';
import type { CompatLogger } from './logger.js';
import { CompatMailMessage, MessageView, mergeDefaults } from './mail-message.js';
import type { CompatTransport } from './transport.js';
import { dkimOptions } from './transport-options.js';
import type { DkimOptions, Mail, MailData } from './types.js';

type Plugin = Mail.PluginFunction;
type Callback<T> = (err: Error | null, value?: T) => void;

const DEFAULT_MAX_RECIPIENTS = 100_000;

/** Anything a send can throw → an Error with nodemailer's `code` (plugin errors pass through as nodemailer passes them). */
function asNodemailerError(err: unknown): Error {
  if (err instanceof InvalidArgumentError) {
    const address = err.code === ErrorCodes.INVALID_ADDRESS;
    return nodemailerError(address ? 'EENVELOPE' : 'EMESSAGE', err.message, {
      cause: err,
      command: 'API',
      smtpwireCode: err.code,
    });
  }
  if (err instanceof SmtpError)
    return nodemailerError('EMESSAGE', err.message, { cause: err, command: 'API', smtpwireCode: err.code });
  return err instanceof Error ? err : new Error(String(err));
}

function settle<T>(promise: Promise<T>, callback: Callback<T> | null | undefined): Promise<T> | undefined {
  if (!callback) return promise;
  promise.then(
    (v) => callback(null, v),
    (e: Error) => callback(e),
  );
  return undefined;
}

export class Mailer extends EventEmitter {
  readonly options: Record<string, unknown>;
  readonly transporter: CompatTransport;
  readonly meta = new Map<string, unknown>();
  readonly #defaults: MailData;
  readonly #plugins: Record<string, Plugin[]> = { compile: [], stream: [] };
  readonly #logger: CompatLogger;
  readonly #dkim: ReturnType<typeof dkimOptions>;
  readonly #slots: number;
  #pending = 0;
  #idling = true;

  constructor(
    transporter: CompatTransport,
    options: Record<string, unknown>,
    defaults: MailData,
    logger: CompatLogger,
  ) {
    super();
    this.transporter = transporter;
    transporter.mailer = this;
    this.options = options;
    this.#defaults = defaults ?? {};
    this.#logger = logger;
    this.#dkim = dkimOptions(options.dkim as DkimOptions | undefined);
    this.#slots = transporter.slots ?? Number.POSITIVE_INFINITY;
    transporter.on?.('token', (token: unknown) => this.emit('token', token));
    transporter.on?.('error', (err: unknown) => this.emit('error', err));
    // A pool is free at start: nodemailer says so once, so the documented queue pattern starts.
    if (transporter.slots !== undefined)
      setImmediate(() => {
        if (this.#idling) this.emit('idle');
      });
  }

  /** Adds a plugin for the 'compile' (mail.data) or 'stream' (message bytes) step. */
  use(step: string, plugin: Plugin): this {
    const key = String(step ?? '');
    const list = this.#plugins[key] ?? [];
    list.push(plugin);
    this.#plugins[key] = list;
    return this;
  }

  set(key: string, value: unknown): Map<string, unknown> {
    return this.meta.set(key, value);
  }

  get(key: string): unknown {
    return this.meta.get(key);
  }

  /**
   * True while another message would start at once (nodemailer's pool: a free connection slot).
   * Transports without connections (JSON, stream, sendmail) answer false, as nodemailer's do.
   */
  isIdle(): boolean {
    return this.transporter.slots !== undefined && this.#pending < this.#slots;
  }

  sendMail(data: MailData): Promise<object>;
  sendMail(data: MailData, callback: Callback<object>): undefined;
  sendMail(data: MailData, callback?: Callback<object> | null): Promise<object> | undefined {
    // Counted at once, so isIdle() is false as soon as the slots are taken (the documented pattern relies on it).
    this.#pending++;
    if (this.#pending >= this.#slots) this.#idling = false;
    const promise = this.#send(data).finally(() => {
      this.#pending--;
      if (this.#pending < this.#slots && !this.#idling) {
        this.#idling = true;
        this.emit('idle');
      }
    });
    return settle(promise, callback);
  }

  verify(): Promise<true>;
  verify(callback: Callback<true>): undefined;
  verify(callback?: Callback<true>): Promise<true> | undefined {
    const verify = this.transporter.verify;
    // nodemailer answers a plain false (no callback) for a transport without verify().
    if (!verify) return false as unknown as Promise<true>;
    return settle(verify.call(this.transporter), callback);
  }

  /** Closes the transport's connections once the messages in flight are done. */
  close(): Promise<void> {
    return Promise.resolve(this.transporter.close?.()).then(() => undefined);
  }

  async #runPlugins(step: string, mail: CompatMailMessage): Promise<void> {
    for (const plugin of this.#plugins[step] ?? []) {
      await new Promise<void>((resolve, reject) => {
        try {
          plugin(mail as never, (err?: Error | null) => (err ? reject(err) : resolve()));
        } catch (err) {
          reject(err);
        }
      });
    }
  }

  async #send(input: MailData): Promise<object> {
    const data = mergeDefaults(input, this.#defaults, this.options);
    const signal = data.signal as AbortSignal | undefined;
    if (signal?.aborted) throw nodemailerError('EABORT', 'Message sending aborted', { cause: signal.reason });
    const mail = new CompatMailMessage(this, data);
    await this.#runPlugins('compile', mail);
    let composed: Awaited<ReturnType<typeof compose>>;
    try {
      composed = await compose(mail.data, {
        disableFileAccess: this.options.disableFileAccess === true,
        disableUrlAccess: this.options.disableUrlAccess === true,
        normalizeHeaderKey: this.options.normalizeHeaderKey as ((k: string) => string) | undefined,
      });
    } catch (err) {
      throw asNodemailerError(err);
    }
    const max = data.maxRecipients === undefined ? DEFAULT_MAX_RECIPIENTS : Number(data.maxRecipients);
    if (max && composed.envelope.to.length > max)
      throw nodemailerError(
        'EMAXRECIPIENTS',
        `Message has ${composed.envelope.to.length} recipients, which is over the ${max} allowed by maxRecipients`,
      );
    const view = new MessageView(composed);
    mail.message = view;
    await this.#runPlugins('stream', mail);
    let raw = await view.finish((s) => readStream(s, 'message'));
    if (data.dkim || this.#dkim) {
      try {
        const dkim = data.dkim ? dkimOptions(data.dkim as DkimOptions)! : this.#dkim!;
        raw = Buffer.concat([Buffer.from(await dkimSign(raw, dkim), 'latin1'), raw]);
      } catch (err) {
        throw asNodemailerError(err);
      }
    }
    view.setFinal(raw);
    try {
      return await this.transporter.send({
        raw,
        envelope: composed.envelope,
        messageId: composed.messageId,
        data,
        mail,
        signal,
      });
    } catch (err) {
      const e = err as NodemailerError;
      this.#logger.log('error', { tnx: 'transport', action: 'send', err: e }, 'Send Error: %s', e.message);
      throw err;
    }
  }
}
