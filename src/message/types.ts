/**
 * The shape of a message as callers describe it, shared by the validator, the MIME builder and the
 * handler (`sendMessage` takes exactly these fields). Pure types, no code.
 */
import type { Readable } from 'node:stream';

/**
 * One attachment. Give exactly one source: `data` (base64 text, as in the reference design),
 * `content` (bytes, a string encoded as UTF-8, or a stream read once) or `path` (a file, streamed).
 */
export interface AttachmentInput {
  filename: string;
  /** MIME type; guessed from the filename's extension when absent. */
  contentType?: string;
  /** Base64-encoded bytes. */
  data?: string;
  content?: Buffer | Uint8Array | string | Readable;
  path?: string;
  /** Content-ID (without angle brackets) for an inline part referenced from HTML as `cid:…`. */
  cid?: string;
}

/** An address as callers give it: `a@b.example` or `"Doe, John" <a@b.example>`. */
export type AddressInput = string;

/** The message fields of `sendMessage` and `buildMessage`. */
export interface MessageInput {
  toAddresses: readonly AddressInput[];
  subject: string;
  textBody?: string;
  htmlBody?: string;
  ccAddresses?: readonly AddressInput[];
  /** Envelope only: never written to a header. */
  bccAddresses?: readonly AddressInput[];
  replyTo?: AddressInput;
  attachments?: readonly AttachmentInput[];
  /** Extra header fields; names must be RFC 5322 field names, values must not hold CR or LF. */
  customHeaders?: Readonly<Record<string, string>>;
  fromAddress?: AddressInput;
}

/**
 * Every key of {@link MessageInput}, in one place: `sendMessage` refuses any other key (with a
 * did-you-mean) besides its own send options. Keys of the contract in shared/API.md are listed even
 * where the builder field lands in another change (priority, list, icalEvent, alternatives, date):
 * add a new message field here and in {@link MessageInput} together.
 */
export const MESSAGE_INPUT_KEYS: readonly string[] = Object.freeze([
  'toAddresses',
  'subject',
  'textBody',
  'htmlBody',
  'ccAddresses',
  'bccAddresses',
  'replyTo',
  'attachments',
  'customHeaders',
  'fromAddress',
  'priority',
  'list',
  'icalEvent',
  'alternatives',
  'date',
]);
