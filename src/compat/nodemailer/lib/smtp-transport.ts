/** `smtpwire/nodemailer/lib/smtp-transport`: nodemailer's `SMTPTransport` type namespace (`Options`, `SentMessageInfo` …). */
import type { SMTPTransport } from '../types.js';

export type { SMTPTransport as default };
