/**
 * The MIME builder: turns a {@link MessageInput} into an RFC 5322 / MIME (RFC 2045–2049) message,
 * streamed so that memory does not depend on attachment size.
 *
 * Structure, from what is given:
 *
 *   multipart/mixed                      only when there are attachments (or an icalEvent)
 *   ├─ multipart/related                 only with HTML and inline (cid) parts
 *   │  ├─ multipart/alternative          only with more than one of these
 *   │  │  ├─ text/plain
 *   │  │  ├─ alternatives …             e.g. text/x-amp-html
 *   │  │  ├─ text/html
 *   │  │  └─ text/calendar; method=…    icalEvent
 *   │  └─ image/png (Content-ID, inline) …
 *   ├─ application/ics (attachment)      icalEvent's copy
 *   └─ application/pdf (attachment) …
 *
 * Each level collapses when it would have a single child (except multipart/mixed around an
 * attachment). The leaves are made in parts.ts, parameters (file names) in params.ts, option
 * fields (priority, List-*) in fields.ts. Pure module: no sockets.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { ErrorCodes, InvalidArgumentError, SmtpError } from '../../errors.js';
import {
  type Address,
  type AddressCache,
  type AddressEntry,
  addressFromObject,
  flattenAddresses,
  parseAddress,
  parseAddressList,
} from '../address.js';
import type { AddressInput, AlternativeInput, AttachmentInput, MessageInput } from '../types.js';
import { base64EncodedLength, base64Lines, base64Slices, base64Stream, foldHeader } from './encodings.js';
import { listFields, type OptionField, priorityFields } from './fields.js';
import { addressHeader, dateHeader, subjectHeader } from './header-lines.js';
import { assertMessageId, assertNoInjection, customHeaderFields, messageIdDomain } from './headers.js';
import {
  alternativeLeaf,
  attachmentLeaf,
  type Body,
  icalLeaves,
  type Leaf,
  type Multipart,
  type Node,
  textLeaf,
} from './parts.js';

/** Options of {@link buildMessage}: the message fields plus what only the builder needs. */
export interface BuildMessageOptions extends MessageInput {
  /** The sender (`From:` and `MAIL FROM`); required here. */
  fromAddress: AddressInput;
  /** With angle brackets; default `<random@sender-domain>` (RFC 5322 §3.6.4). */
  messageId?: string;
  /** The server accepts 8BITMIME (RFC 6152): text parts may be sent as `8bit`. */
  allow8bit?: boolean;
  /**
   * Fixed boundaries, and a fixed Message-ID and date when not given, derived from `seed`
   * (default `smtpwire`): the same input always gives the same bytes. For golden files and tests.
   */
  deterministic?: boolean | { seed: string };
}

/** A built message: headers known up front, the body streamed on demand. */
export interface BuiltMessage {
  /** The Message-ID header value, with angle brackets. */
  messageId: string;
  /** Addresses only (`local@ascii-domain`); `to` = To + Cc + Bcc, deduplicated case-insensitively. */
  envelope: { from: string; to: string[] };
  /** Every address as parsed (once, here): for the limits and to name recipients as the caller wrote them. */
  addresses: {
    from: Address;
    to: readonly Address[];
    cc: readonly Address[];
    bcc: readonly Address[];
    replyTo: readonly Address[];
  };
  /** Decoded octets of each attachment, in order; null for a stream. */
  attachmentSizes: readonly (number | null)[];
  /** The raw header block: CRLF-terminated lines, ending with the empty line. */
  headers: string;
  /** Exact size in octets when knowable without reading streams, else null (for SIZE=, RFC 1870). */
  size: number | null;
  /** Some part is `8bit` or a header holds raw UTF-8: needs BODY=8BITMIME (RFC 6152). */
  has8bit: boolean;
  /** An address has a non-ASCII local part: header and envelope need SMTPUTF8 (RFC 6531). */
  needsSmtpUtf8: boolean;
  /** False when an attachment is a one-shot Readable: then {@link stream} works once. */
  replayable: boolean;
  /** The whole message (headers + body), streamed with backpressure. */
  stream(): Readable;
  /** The whole message in memory: for small messages and tests. */
  toBuffer(): Promise<Buffer>;
  /** True when every part is in memory (no file or stream): then {@link toBufferSync} works. */
  inMemory: boolean;
  /** The whole message at once, without I/O. @throws SmtpError `ERR_SMTP_INVALID_STATE` unless `inMemory`. */
  toBufferSync(): Buffer;
}

const CRLF = '\r\n';
/** Seed of deterministic mode when none is given. */
const DEFAULT_SEED = 'smtpwire';
/** The date of deterministic mode when none is given: fixed so golden files never change. */
const DETERMINISTIC_DATE = new Date(Date.UTC(2024, 0, 1, 0, 0, 0));
/** Read size for file attachments: a multiple of 3 keeps most chunks free of carried bytes. */
const FILE_CHUNK = 3 * 21_846; // ~64 KiB
/** In-memory parts are yielded in slices of this size, so backpressure applies to them too. */
const SLICE = 64 * 1024;

/**
 * Random bytes drawn 4 KiB at a time: one syscall-backed fill serves hundreds of messages. Module state
 * kept because it pays (bench/micro/mime.bench.ts: a 16-byte draw 0.7 µs from the pool, 7.7 µs by
 * `randomBytes(16)`, on the shared 2-core VM).
 */
const RANDOM_POOL_SIZE = 4096;
let randomPool = Buffer.alloc(0);
let randomOffset = 0;
function randomHex(bytes: number): string {
  if (randomOffset + bytes > randomPool.length) {
    randomPool = randomBytes(Math.max(RANDOM_POOL_SIZE, bytes));
    randomOffset = 0;
  }
  const hex = randomPool.toString('hex', randomOffset, randomOffset + bytes);
  randomOffset += bytes;
  return hex;
}

class Entropy {
  readonly #seed: string | null;
  #counter = 0;
  constructor(seed: string | null) {
    this.#seed = seed;
  }
  get deterministic(): boolean {
    return this.#seed !== null;
  }
  hex(bytes: number): string {
    if (this.#seed === null) return randomHex(bytes);
    const digest = createHash('sha256')
      .update(`${this.#seed}\0${this.#counter++}`)
      .digest('hex');
    return digest.slice(0, bytes * 2);
  }
}

// ---------------------------------------------------------------------------------------------
// Message headers
// ---------------------------------------------------------------------------------------------

interface ParsedAddresses {
  entries: AddressEntry<Address>[];
  mailboxes: Address[];
}

function parseAddressInputs(inputs: unknown, field: string, cache: AddressCache | undefined): ParsedAddresses {
  if (inputs === undefined || inputs === null) return { entries: [], mailboxes: [] };
  if (!Array.isArray(inputs)) {
    throw new InvalidArgumentError(`${field} must be an array of addresses`, {
      field,
      code: ErrorCodes.INVALID_ADDRESS,
    });
  }
  const entries: AddressEntry<Address>[] = [];
  for (let i = 0; i < inputs.length; i++) {
    // A string entry may itself be a list or a group (`Team: a@x, b@y;`); an object is one mailbox.
    const input: unknown = inputs[i];
    const field_i = `${field}[${i}]`;
    if (typeof input === 'string')
      entries.push(...labelled(field_i, input, (x) => (cache === undefined ? parseAddressList(x) : cache.list(x))));
    else entries.push(labelled(field_i, input, (x) => addressFromObject(x, field_i)));
  }
  return { entries, mailboxes: flattenAddresses(entries) };
}

function parseSingle(input: unknown, field: string, cache?: AddressCache): Address {
  return labelled(field, input, (x) =>
    typeof x !== 'string' ? addressFromObject(x, field) : cache === undefined ? parseAddress(x) : cache.mailbox(x),
  );
}

/** Runs the address parser once (address.ts owns the rules, CR/LF included); its error names the field. */
function labelled<T, I>(field: string, input: I, parse: (input: I) => T): T {
  try {
    return parse(input);
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    const why = err.message.replace(/^Invalid address: /, '');
    throw new InvalidArgumentError(`${field}: invalid email address ${JSON.stringify(input)}: ${why}`, {
      field,
      code: err.code as typeof ErrorCodes.INVALID_ADDRESS,
      cause: err,
      ...(err.position === undefined ? {} : { position: err.position }),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Serialisation
// ---------------------------------------------------------------------------------------------

function multipartHeader(node: Multipart): string {
  // Quoted: the boundary holds '=', a tspecial (RFC 2045 §5.1). multipart/related names the type of
  // its root (RFC 2387 §3.1): here always the HTML (alone or as the preferred alternative), as nodemailer writes it.
  const type = node.subtype === 'related' ? '; type="text/html"' : '';
  return foldHeader('Content-Type', `multipart/${node.subtype}${type}; boundary="${node.boundary}"`);
}

function bodySize(body: Body): number | null {
  switch (body.kind) {
    case 'encoded':
      return body.data.length;
    case 'base64':
      return body.data.length === 0 ? CRLF.length : base64EncodedLength(body.data.length);
    case 'file':
      return body.size === 0 ? CRLF.length : base64EncodedLength(body.size);
    case 'stream':
      return null;
  }
}

/** Size of a node without its own Content-* headers (those of the root are in the header block). */
function nodeBodySize(node: Node): number | null {
  if (node.type === 'leaf') return bodySize(node.body);
  let total = 0;
  for (const child of node.children) {
    const childBody = nodeBodySize(child);
    if (childBody === null) return null;
    const childHeaders = child.type === 'leaf' ? child.headers : multipartHeader(child);
    total += `--${node.boundary}${CRLF}`.length + Buffer.byteLength(childHeaders) + CRLF.length + childBody;
  }
  return total + `--${node.boundary}--${CRLF}`.length;
}

/** The one base64 streamer, failing when a file's size announced for SIZE= or BDAT is not what was read. */
function base64Of(source: AsyncIterable<Buffer | string>, expectedSize: number | null, what: string) {
  return base64Stream(source, (total) => {
    if (expectedSize !== null && total !== expectedSize) {
      // The size was announced (SIZE=, BDAT lengths): a file that changed underneath must not
      // silently produce a different message.
      throw new SmtpError(`${what} changed while it was read: ${expectedSize} bytes expected, ${total} read`, {
        code: ErrorCodes.BODY_SOURCE,
      });
    }
  });
}

async function* emitBody(body: Body): AsyncGenerator<Buffer> {
  switch (body.kind) {
    case 'encoded':
      for (let i = 0; i < body.data.length; i += SLICE) yield body.data.subarray(i, i + SLICE);
      return;
    case 'base64':
      if (body.data.length === 0) yield Buffer.from(CRLF);
      yield* base64Slices(body.data);
      return;
    case 'file':
      yield* base64Of(
        createReadStream(body.path, { highWaterMark: FILE_CHUNK }),
        body.size,
        `file ${JSON.stringify(body.path)}`,
      );
      return;
    case 'stream':
      yield* base64Of(body.stream, null, 'attachment stream');
      return;
  }
}

/** The same bytes as emitNode, synchronously, for a tree whose bodies are all in memory. */
function emitNodeSync(node: Node, out: Buffer[]): void {
  if (node.type === 'leaf') {
    const body = node.body;
    if (body.kind === 'encoded') out.push(body.data);
    else if (body.kind === 'base64') {
      out.push(body.data.length === 0 ? Buffer.from(CRLF) : base64Lines(body.data));
    } else throw new SmtpError('message has a file or stream part', { code: ErrorCodes.INVALID_STATE });
    return;
  }
  for (const child of node.children) {
    const childHeaders = child.type === 'leaf' ? child.headers : multipartHeader(child);
    out.push(Buffer.from(`--${node.boundary}${CRLF}${childHeaders}${CRLF}`, 'utf8'));
    emitNodeSync(child, out);
  }
  out.push(Buffer.from(`--${node.boundary}--${CRLF}`));
}

async function* emitNode(node: Node): AsyncGenerator<Buffer> {
  if (node.type === 'leaf') {
    yield* emitBody(node.body);
    return;
  }
  for (const child of node.children) {
    const childHeaders = child.type === 'leaf' ? child.headers : multipartHeader(child);
    yield Buffer.from(`--${node.boundary}${CRLF}${childHeaders}${CRLF}`, 'utf8');
    yield* emitNode(child);
  }
  yield Buffer.from(`--${node.boundary}--${CRLF}`);
}

/** Every in-memory encoded text of the tree: the only content a boundary could collide with. */
function encodedTexts(node: Node, out: Buffer[] = []): Buffer[] {
  if (node.type === 'leaf') {
    if (node.body.kind === 'encoded') out.push(node.body.data);
  } else for (const c of node.children) encodedTexts(c, out);
  return out;
}

/**
 * A boundary that occurs in none of the in-memory texts.
 *
 * Streamed content is always base64, whose alphabet has no `-`, so `--` + boundary can never
 * appear in it; quoted-printable writes `=` only as `=XX` or a soft break, so the `=_` in the
 * boundary cannot appear there either. Only 7bit/8bit text could hold it, and that text is in
 * memory and checked here (a random 128-bit boundary essentially never needs a second try, but
 * deterministic mode must not be defeated by a hostile body).
 */
function makeBoundary(entropy: Entropy, texts: readonly Buffer[]): string {
  for (;;) {
    const boundary = `=_smtpwire_${entropy.hex(16)}`;
    if (!texts.some((t) => t.includes(boundary))) return boundary;
  }
}

function multipart(subtype: Multipart['subtype'], children: Node[], keep = false): Node {
  if (children.length === 1 && !keep) return children[0]!;
  return { type: 'multipart', subtype, boundary: '', children };
}

function assignBoundaries(node: Node, entropy: Entropy, texts: readonly Buffer[]): void {
  if (node.type === 'leaf') return;
  node.boundary = makeBoundary(entropy, texts);
  for (const c of node.children) assignBoundaries(c, entropy, texts);
}

function some(node: Node, predicate: (leaf: Leaf) => boolean): boolean {
  return node.type === 'leaf' ? predicate(node) : node.children.some((c) => some(c, predicate));
}

// ---------------------------------------------------------------------------------------------
// buildMessage
// ---------------------------------------------------------------------------------------------

/**
 * Builds an RFC 5322 message (MIME, RFC 2045–2049) from `options`. Every address is parsed once
 * (or not at all when `cache` has its text).
 *
 * Everything that can be checked is checked here, before a byte is streamed: addresses, header
 * names and values (no CR, LF or NUL anywhere), attachments (one source each, valid base64, a
 * readable regular file for `path`). Bcc goes to the envelope only. Nothing is read from a file or
 * stream until {@link BuiltMessage.stream} is consumed.
 *
 * @throws InvalidArgumentError with code `ERR_SMTP_HEADER_INJECTION` (CR/LF/NUL in a value),
 *   `ERR_SMTP_INVALID_HEADER` (bad or reserved header name, bad Message-ID, unfoldable line),
 *   `ERR_SMTP_INVALID_ATTACHMENT` or `ERR_SMTP_INVALID_ADDRESS` (also when there is no recipient).
 * @see RFC 5322 §3.6, RFC 2045 §6, RFC 2046 §5.1, RFC 2047, RFC 2231, RFC 2387, RFC 2392
 */
export function buildMessage(options: BuildMessageOptions, cache?: AddressCache): BuiltMessage {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options must be an object', { field: 'options' });
  }
  const det = options.deterministic;
  const entropy = new Entropy(
    det === undefined || det === false ? null : det === true ? DEFAULT_SEED : String(det.seed),
  );
  const allow8bit = options.allow8bit === true;

  // Addresses.
  if (options.fromAddress === undefined || options.fromAddress === null) {
    throw new InvalidArgumentError('fromAddress is required', {
      field: 'fromAddress',
      code: ErrorCodes.INVALID_ADDRESS,
    });
  }
  const from = parseSingle(options.fromAddress, 'fromAddress', cache);
  const to = parseAddressInputs(options.toAddresses, 'toAddresses', cache);
  const cc = parseAddressInputs(options.ccAddresses, 'ccAddresses', cache);
  const bcc = parseAddressInputs(options.bccAddresses, 'bccAddresses', cache);
  // One address or a list (each entry parsed alone: `replyTo: 'a@x, b@y'` is one bad address).
  const replyTo: Address[] =
    options.replyTo === undefined || options.replyTo === null
      ? []
      : Array.isArray(options.replyTo)
        ? options.replyTo.map((r: unknown, i: number) => parseSingle(r, `replyTo[${i}]`, cache))
        : [parseSingle(options.replyTo, 'replyTo', cache)];

  const recipients: string[] = [];
  const seen = new Set<string>();
  for (const m of [...to.mailboxes, ...cc.mailboxes, ...bcc.mailboxes]) {
    const envelope = m.wire;
    const key = envelope.toLowerCase();
    if (!seen.has(key)) {
      seen.add(key);
      recipients.push(envelope);
    }
  }
  if (recipients.length === 0) {
    throw new InvalidArgumentError('at least one recipient (To, Cc or Bcc) is required', {
      field: 'toAddresses',
      code: ErrorCodes.INVALID_ADDRESS,
    });
  }
  const everyone = [from, ...to.mailboxes, ...cc.mailboxes, ...bcc.mailboxes, ...replyTo];
  const smtpUtf8 = everyone.some((m) => m.smtpUtf8);

  // Subject, option fields (priority, list) and custom headers.
  const subject = options.subject ?? '';
  assertNoInjection(subject, 'subject');
  const optionFields: OptionField[] = [...priorityFields(options.priority), ...listFields(options.list)];
  const customFields = customHeaderFields(options.customHeaders, 'customHeaders');
  if (optionFields.length > 0 && customFields !== '') {
    // The option owns its fields: a second X-Priority or List-Unsubscribe would be ambiguous.
    const written = new Set(optionFields.map(([name]) => name.toLowerCase()));
    for (const name of Object.keys(options.customHeaders ?? {})) {
      if (written.has(name.toLowerCase())) {
        throw new InvalidArgumentError(`customHeaders[${JSON.stringify(name)}]: ${name} is written by an option`, {
          field: `customHeaders[${JSON.stringify(name)}]`,
          code: ErrorCodes.INVALID_HEADER,
        });
      }
    }
  }

  let messageId: string;
  if (options.messageId !== undefined && options.messageId !== null) {
    assertMessageId(options.messageId);
    messageId = options.messageId;
  } else {
    messageId = `<${entropy.hex(16)}@${messageIdDomain(from.wire)}>`;
  }
  const date = options.date ?? (entropy.deterministic ? DETERMINISTIC_DATE : new Date());

  // Body parts.
  const text = options.textBody;
  const html = options.htmlBody;
  if (text !== undefined && text !== null && typeof text !== 'string') {
    throw new InvalidArgumentError('textBody must be a string', { field: 'textBody' });
  }
  if (html !== undefined && html !== null && typeof html !== 'string') {
    throw new InvalidArgumentError('htmlBody must be a string', { field: 'htmlBody' });
  }
  const hasText = typeof text === 'string';
  const hasHtml = typeof html === 'string';
  const attachments = options.attachments ?? [];
  if (!Array.isArray(attachments)) {
    throw new InvalidArgumentError('attachments must be an array', {
      field: 'attachments',
      code: ErrorCodes.INVALID_ATTACHMENT,
    });
  }
  const inlineParts: Leaf[] = [];
  const attachedParts: Leaf[] = [];
  const attachmentSizes: (number | null)[] = [];
  attachments.forEach((att: AttachmentInput, i: number) => {
    const { leaf, related, size } = attachmentLeaf(att, i);
    attachmentSizes.push(size);
    // Parts with a cid belong to the HTML (multipart/related, RFC 2387); without HTML they are
    // ordinary parts of multipart/mixed, still marked inline.
    (related && hasHtml ? inlineParts : attachedParts).push(leaf);
  });
  const extra = options.alternatives ?? [];
  if (!Array.isArray(extra)) {
    throw new InvalidArgumentError('alternatives must be an array', {
      field: 'alternatives',
      code: ErrorCodes.INVALID_ATTACHMENT,
    });
  }
  const ical =
    options.icalEvent === undefined || options.icalEvent === null ? null : icalLeaves(options.icalEvent, allow8bit);
  // The invitation's attachment copy goes first, so the calendar file leads the attachment list.
  if (ical !== null) attachedParts.unshift(ical.attachment);

  // multipart/alternative, least preferred first (RFC 2046 §5.1.4): text, the extra alternatives
  // (Gmail wants text/x-amp-html before text/html, for readers that show the last part they
  // know), HTML, then the calendar part, as nodemailer orders them.
  const alternatives: Node[] = [];
  const onlyText = !hasHtml && extra.length === 0 && ical === null && attachedParts.length === 0;
  if (hasText || onlyText) alternatives.push(textLeaf(text ?? '', 'text/plain; charset=utf-8', allow8bit));
  extra.forEach((alt: AlternativeInput, i: number) => {
    alternatives.push(alternativeLeaf(alt, i, allow8bit));
  });
  if (hasHtml) alternatives.push(textLeaf(html, 'text/html; charset=utf-8', allow8bit));
  if (ical !== null) alternatives.push(ical.alternative);
  const related: Node[] = [];
  if (alternatives.length > 0) related.push(multipart('alternative', alternatives));
  related.push(...inlineParts);
  const mixed: Node[] = [];
  if (related.length > 0) mixed.push(multipart('related', related));
  mixed.push(...attachedParts);
  // An attachment stays inside multipart/mixed even alone, so it is shown as an attachment.
  const root = multipart('mixed', mixed, attachedParts.length > 0);
  assignBoundaries(root, entropy, encodedTexts(root));

  // The header block.
  // Address values are shared (and their lines worth keeping) only when they come from the cache.
  const shared = cache !== undefined;
  let headers = addressHeader('From', [from], shared);
  if (to.entries.length > 0) headers += addressHeader('To', to.entries, shared);
  if (cc.entries.length > 0) headers += addressHeader('Cc', cc.entries, shared);
  if (replyTo.length > 0) headers += addressHeader('Reply-To', replyTo, shared);
  headers += subjectHeader(subject);
  headers += dateHeader(date);
  headers += foldHeader('Message-ID', messageId);
  for (const [, folded] of optionFields) headers += folded;
  headers += customFields;
  headers += foldHeader('MIME-Version', '1.0');
  headers += root.type === 'leaf' ? root.headers : multipartHeader(root);
  headers += CRLF;
  const headerBytes = Buffer.byteLength(headers, 'utf8');

  const bodyLength = nodeBodySize(root);
  let streamed = false;
  const replayable = !some(root, (leaf) => leaf.body.kind === 'stream');
  const inMemory = !some(root, (leaf) => leaf.body.kind === 'stream' || leaf.body.kind === 'file');

  const stream = (): Readable => {
    if (!replayable && streamed) {
      // A consumed body: one fault class, one code (ERR_SMTP_BODY_SOURCE) wherever it is found.
      throw new SmtpError('this message has a one-shot stream attachment and was already streamed', {
        code: ErrorCodes.BODY_SOURCE,
      });
    }
    streamed = true;
    async function* generate(): AsyncGenerator<Buffer> {
      yield Buffer.from(headers, 'utf8');
      yield* emitNode(root);
    }
    return Readable.from(generate(), { objectMode: false });
  };

  return {
    messageId,
    envelope: { from: from.wire, to: recipients },
    addresses: { from, to: to.mailboxes, cc: cc.mailboxes, bcc: bcc.mailboxes, replyTo },
    attachmentSizes,
    headers,
    size: bodyLength === null ? null : headerBytes + bodyLength,
    has8bit: headerBytes !== headers.length || some(root, (leaf) => leaf.is8bit),
    needsSmtpUtf8: smtpUtf8,
    replayable,
    stream,
    inMemory,
    toBufferSync(): Buffer {
      if (!inMemory)
        throw new SmtpError('message has a file or stream part: use toBuffer() or stream()', {
          code: ErrorCodes.INVALID_STATE,
        });
      const chunks: Buffer[] = [Buffer.from(headers, 'utf8')];
      emitNodeSync(root, chunks);
      return Buffer.concat(chunks);
    },
    async toBuffer(): Promise<Buffer> {
      if (inMemory) return this.toBufferSync();
      const chunks: Buffer[] = [];
      for await (const chunk of stream()) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
  };
}
