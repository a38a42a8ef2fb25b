/** What every compat transport (SMTP, JSON, stream, sendmail) receives for one message. */
import type { CompatMailMessage } from './mail-message.js';
import type { MailData } from './types.js';

export interface Outgoing {
  /** The message bytes, after stream plugins and DKIM. */
  raw: Buffer;
  envelope: { from: string | false; to: string[] };
  messageId: string;
  data: MailData;
  mail: CompatMailMessage;
  signal?: AbortSignal | undefined;
}

export interface CompatTransport {
  readonly name: string;
  readonly version: string;
  /** Connections a pool may use at once; absent for transports that never wait. */
  readonly slots?: number;
  /** The transporter using it (nodemailer sets `transport.mailer`). */
  mailer?: unknown;
  send(out: Outgoing): Promise<object>;
  verify?(): Promise<true>;
  close?(): void | Promise<void>;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}
