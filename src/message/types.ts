/**
 * The shape of a message as callers describe it, shared by the validator, the MIME builder and the
 * handler (`sendMessage` takes exactly these fields). Pure types, plus the one list of their keys.
 */
import type { Readable } from 'node:stream';

/** Byte encodings a string `content` may be given in (Node's names). */
export type ContentEncoding = 'utf8' | 'utf-8' | 'base64' | 'base64url' | 'hex' | 'latin1' | 'binary' | 'ascii';

/**
 * One attachment. Give exactly one source: `data` (base64 text, as in the reference design),
 * `content` (bytes, a string, or a stream read once) or `path` (a file, streamed).
 */
export interface AttachmentInput {
  filename: string;
  /** MIME type; guessed from the filename's extension when absent. */
  contentType?: string;
  /** Base64-encoded bytes. */
  data?: string;
  content?: Buffer | Uint8Array | string | Readable;
  /** How a string `content` is turned into bytes; default `'utf8'` (e.g. `'base64'`, `'hex'`). */
  encoding?: ContentEncoding;
  path?: string;
  /** Content-ID (without angle brackets) for an inline part referenced from HTML as `cid:…`. */
  cid?: string;
  /** Default `'inline'` with a `cid`, else `'attachment'` (RFC 2183). */
  contentDisposition?: 'attachment' | 'inline';
  /** Extra header fields of this part (not Content-Type, -Transfer-Encoding, -Disposition or -ID). */
  headers?: Readonly<Record<string, string>>;
}

/** A mailbox as an object: `{ name: 'Doe, John', address: 'john@example.com' }`. */
export interface AddressObject {
  name?: string | null;
  address: string;
}

/**
 * An address as callers give it: `a@b.example`, `"Doe, John" <a@b.example>`, or the object form
 * `{ name, address }` (turned into text in one place: `addressInputText` in address.ts).
 */
export type AddressInput = string | AddressObject;

/** `X-Priority` / `Importance` / `X-MSMail-Priority` of the message. */
export type MessagePriority = 'high' | 'normal' | 'low';

/**
 * A `List-*` value: a URL (`https:`, `mailto:` …) or an email address (written as `mailto:`), or
 * nodemailer's `{ url, comment }`; or a list of them.
 */
export type ListTarget =
  | string
  | { url: string; comment?: string }
  | readonly (string | { url: string; comment?: string })[];

/** The list headers of RFC 2369 / RFC 2919 / RFC 8058 (nodemailer's `list` option). */
export interface ListHeadersInput {
  /**
   * `List-Id: Name <id>` (RFC 2919): the id alone (`news.example.com`) or with a display name
   * (`{ id, name }`, or nodemailer's `{ url, comment }`).
   */
  id?: string | { id: string; name?: string } | { url: string; comment?: string };
  /**
   * `List-Unsubscribe` (RFC 2369): targets, or `{ url, mail, oneClick }`. `oneClick: true` adds
   * `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): the https `url` must then
   * unsubscribe on a POST without further interaction.
   */
  unsubscribe?: ListTarget | { url?: string; mail?: string; oneClick?: boolean };
  help?: ListTarget;
  subscribe?: ListTarget;
  post?: ListTarget;
  owner?: ListTarget;
  archive?: ListTarget;
}

/**
 * A calendar invitation: a `text/calendar; method=…` alternative (what calendar clients act on)
 * plus the same file as an attachment. Give `content` or `path` (or the content as a plain string).
 */
export interface IcalEventInput {
  /** iTIP method (RFC 5546): `REQUEST`, `CANCEL`, `PUBLISH` …; default the content's METHOD, else PUBLISH. */
  method?: string;
  content?: string | Buffer | Uint8Array;
  /** How a string `content` is turned into bytes; default `'utf8'`. */
  encoding?: ContentEncoding;
  path?: string;
  /** Name of the attached copy; default `invite.ics`. */
  filename?: string;
}

/** An extra part of multipart/alternative, e.g. `{ contentType: 'text/x-amp-html', content: '…' }`. */
export interface AlternativeInput {
  contentType: string;
  content?: string | Buffer | Uint8Array;
  /** How a string `content` is turned into bytes; default `'utf8'`. */
  encoding?: ContentEncoding;
  path?: string;
}

/** The message fields of `sendMessage` and `buildMessage`. */
export interface MessageInput {
  toAddresses: readonly AddressInput[];
  subject: string;
  textBody?: string;
  htmlBody?: string;
  ccAddresses?: readonly AddressInput[];
  /** Envelope only: never written to a header. */
  bccAddresses?: readonly AddressInput[];
  /** One address or a list. */
  replyTo?: AddressInput | readonly AddressInput[];
  attachments?: readonly AttachmentInput[];
  /** Extra header fields; names must be RFC 5322 field names, values must not hold CR or LF. */
  customHeaders?: Readonly<Record<string, string>>;
  fromAddress?: AddressInput;
  /** The Date header; default now. Written in UTC. */
  date?: Date;
  priority?: MessagePriority;
  list?: ListHeadersInput;
  icalEvent?: IcalEventInput | string;
  /** Extra alternatives, between the text and the HTML part (the last is the preferred one). */
  alternatives?: readonly AlternativeInput[];
}

/**
 * Every key of {@link MessageInput}, the one list callers' option objects are checked against
 * (`sendMessage` answers an unknown key with INVALID naming it). A key added to MessageInput
 * without being listed here fails to compile.
 */
export const MESSAGE_INPUT_KEYS = Object.freeze([
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
  'date',
  'priority',
  'list',
  'icalEvent',
  'alternatives',
] as const satisfies readonly (keyof MessageInput)[]);

// Compile-time check of the other direction: every MessageInput key is in the list.
type MissingKey = Exclude<keyof MessageInput, (typeof MESSAGE_INPUT_KEYS)[number]>;
const everyKeyListed: [MissingKey] extends [never] ? true : MissingKey = true;
void everyKeyListed;
