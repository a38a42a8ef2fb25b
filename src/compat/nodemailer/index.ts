/**
 * `smtpwire/nodemailer`: nodemailer's API on smtpwire's engine, so a program moves by its import line:
 *
 * ```ts
 * import nodemailer from 'smtpwire/nodemailer';   // was: from 'nodemailer'
 * const transporter = nodemailer.createTransport({ host, port, secure, auth: { user, pass } });
 * const info = await transporter.sendMail({ from, to, subject, text, html, attachments });
 * ```
 *
 * A translator only: options (transport-options.ts), fields (compose.ts), plugins (mailer.ts,
 * mail-message.ts), results and errors (smtp-transport.ts, errors.ts) map onto the core. What
 * differs on purpose is in the README's "Coming from nodemailer" table.
 */
import { getLogger } from './logger.js';
import { Mailer } from './mailer.js';
import {
  isTransportPlugin,
  JsonTransport,
  PluginTransport,
  SendmailTransport,
  StreamTransport,
} from './other-transports.js';
import { SmtpTransport } from './smtp-transport.js';
import { createTestAccount, getTestMessageUrl } from './test-account.js';
import type { CompatTransport } from './transport.js';
import { normalizeTransportOptions } from './transport-options.js';
import type {
  JSONTransport,
  MailData,
  SendmailTransport as SendmailTransportTypes,
  SMTPTransport,
  StreamTransport as StreamTransportTypes,
  Transport,
  Transporter,
} from './types.js';

export type { NodemailerError, NodemailerErrorCode } from './errors.js';
export type {
  DkimOptions,
  JSONTransport,
  Logger,
  Mail,
  MailMessage,
  SendMailOptions,
  SendmailTransport,
  SentMessageInfo,
  SMTPPool,
  SMTPTransport,
  StreamTransport,
  TestAccount,
  Transport,
  Transporter,
  TransportOptions,
} from './types.js';
export { createTestAccount, getTestMessageUrl, Mailer, Mailer as NodemailerTransport };

/**
 * A transporter from nodemailer's options (an object, or an `smtp://` / `smtps://` URL string) and
 * default mail fields. Bad options throw here, naming the option.
 * @throws InvalidArgumentError
 */
export function createTransport(
  options: JSONTransport.Options,
  defaults?: MailData,
): Transporter<JSONTransport.SentMessageInfo>;
export function createTransport(
  options: StreamTransportTypes.Options,
  defaults?: MailData,
): Transporter<StreamTransportTypes.SentMessageInfo>;
export function createTransport(
  options: SendmailTransportTypes.Options,
  defaults?: MailData,
): Transporter<SendmailTransportTypes.SentMessageInfo>;
export function createTransport(
  options?: SMTPTransport.Options | string,
  defaults?: MailData,
): Transporter<SMTPTransport.SentMessageInfo>;
export function createTransport<T>(transport: Transport<T>, defaults?: MailData): Transporter<T>;
export function createTransport(options?: object | string, defaults: MailData = {}): Transporter {
  if (isTransportPlugin(options)) {
    const plugin = new PluginTransport(options);
    const mailer = new Mailer(plugin, {}, defaults, getLogger({}));
    options.mailer = mailer;
    return mailer as unknown as Transporter;
  }
  const normalized = normalizeTransportOptions(options);
  const logger = getLogger({
    logger: normalized.logger,
    debug: normalized.debug ?? normalized.transactionLog,
    component: normalized.component,
  });
  let transport: CompatTransport;
  switch (normalized.kind) {
    case 'json':
      transport = new JsonTransport(normalized, logger);
      break;
    case 'stream':
      transport = new StreamTransport(normalized, logger);
      break;
    case 'sendmail':
      transport = new SendmailTransport(normalized, logger);
      break;
    default:
      transport = new SmtpTransport(normalized, logger);
  }
  return new Mailer(transport, normalized, defaults, logger) as unknown as Transporter;
}

/** `import nodemailer from 'smtpwire/nodemailer'` as `import nodemailer from 'nodemailer'`. */
const nodemailer = { createTransport, createTestAccount, getTestMessageUrl };
export default nodemailer;
