/**
 * The options of `sendMessage` and `sendRaw`, shared by every handler that sends (SmtpProtocolHandler,
 * SmtpMxHandler): types only, so both can use them without importing each other.
 */
import type { DkimOptions } from '../message/dkim/sign.js';
import type { RawEnvelopeInput, RawMessageInput } from '../message/prepare.js';
import type { MessageInput } from '../message/types.js';
import type { DsnOptions } from '../protocol/dsn.js';
import type { DeliveryProgress } from './delivery.js';

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
  /** The SMTP envelope instead of the one derived from the headers (From; To + Cc + Bcc). */
  envelope?: { from: string; to: readonly string[] };
  /**
   * Delivery status notifications (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on each RCPT. Refused
   * before a byte is written when the server does not offer DSN, unless `ifUnsupported: 'send-without'`.
   */
  dsn?: DsnOptions;
  /**
   * Go on from an earlier send of this message that delivered to some recipients: send to `pending` alone
   * (a result's `pendingRecipients`), and name the earlier `delivered` and `failures` in the result.
   */
  resume?: DeliveryProgress;
}

/**
 * The envelope of `sendRaw`: RFC 5322 address forms, declarations about a stream (see README), and the
 * DSN request (as `SendMessageOptions.dsn`).
 */
export type RawEnvelope = RawEnvelopeInput & { dsn?: DsnOptions };

export interface SendRawOptions {
  retry?: boolean;
  signal?: AbortSignal;
  /** For the result when the message's own Message-ID header cannot be read (streams). */
  messageId?: string;
  /** Awaited before the final dot of each attempt (see `SendMailOptions.onBeforeHandOver`). */
  onBeforeHandOver?: () => void | Promise<void>;
  /** DKIM for this message, instead of the handler's; `[]` sends it unsigned. */
  dkim?: DkimOptions | DkimOptions[];
  /** See {@link SendMessageOptions.resume}. */
  resume?: DeliveryProgress;
}

/** A raw message: bytes, or a factory giving a fresh stream per attempt (a bare stream can be sent once). */
export type RawMessage = RawMessageInput;
