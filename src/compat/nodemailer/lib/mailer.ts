/** `smtpwire/nodemailer/lib/mailer`: nodemailer's `Mail` type namespace (`Options`, `Attachment`, `Address` …). */
import type { Mail } from '../types.js';

export type { Mail as default };
