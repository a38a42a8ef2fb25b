/**
 * nodemailer's mail data → one RFC 5322 message, built by the core's MIME builder (`buildMessage`):
 * contents resolved first (content.ts), fields translated to the builder's options, and the fields
 * nodemailer writes that the builder has no option for (`sender`, repeated and `prepared` headers,
 * `List-*` one field per target, `normalizeHeaderKey`) added to its header block through the
 * core's header writers. Pure translation: no socket, no SMTP.
 */
import { ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { type BuildMessageOptions, buildMessage } from '../../message/mime/builder.js';
import { decodeQuotedPrintable, encodeWords, foldHeader } from '../../message/mime/encodings.js';
import {
  assertCustomHeaderName,
  assertNoInjection,
  customHeaderFields,
  RESERVED_FIELDS,
} from '../../message/mime/headers.js';
import { readMessageId } from '../../message/prepare.js';
import type { AlternativeInput, AttachmentInput, IcalEventInput } from '../../message/types.js';
import { headerText, mailboxes, phraseText, wireList, wireSingle } from './addresses.js';
import { type AccessPolicy, parseDataUri, resolveContent, resolveText, sourceKind } from './content.js';
import type { MailData } from './types.js';

/** A message ready for any transport: its bytes, SMTP envelope and Message-ID. */
export interface Composed {
  raw: Buffer;
  envelope: { from: string | false; to: string[] };
  messageId: string;
}

export interface ComposeOptions extends AccessPolicy {
  normalizeHeaderKey?: ((key: string) => string) | undefined;
}

const EXT: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/svg+xml': 'svg',
  'text/plain': 'txt',
  'text/html': 'html',
  'application/pdf': 'pdf',
};

/** nodemailer's default spelling of a header name (`x-custom` → `X-Custom`, `list-id` → `List-ID`). */
export function defaultHeaderKey(key: string): string {
  return key
    .toLowerCase()
    .replace(/^X-SMTPAPI$|^(MIME|DKIM|ARC|BIMI)\b|^[a-z]|-(SPF|FBL|ID|MD5)$|-[a-z]/gi, (c) => c.toUpperCase())
    .replace(/^Content-Features$/i, 'Content-features');
}

interface HeaderEntry {
  key: string;
  value: string;
  prepared: boolean;
}

/** `headers` in nodemailer's forms: `{ k: v | v[] | { prepared, value } }` or `[{ key, value }]`. */
function headerEntries(headers: unknown): HeaderEntry[] {
  if (headers === undefined || headers === null) return [];
  const out: HeaderEntry[] = [];
  const add = (key: string, value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) add(key, v);
      return;
    }
    if (value !== null && typeof value === 'object') {
      const o = value as { prepared?: boolean; value?: unknown };
      out.push({ key, value: String(o.value ?? ''), prepared: o.prepared === true });
      return;
    }
    if (value === undefined || value === null || value === false) return;
    out.push({ key, value: String(value), prepared: false });
  };
  if (Array.isArray(headers)) {
    for (const h of headers as { key: string; value: unknown }[]) add(String(h.key), h.value);
  } else if (typeof headers === 'object') {
    for (const [key, value] of Object.entries(headers)) add(key, value);
  } else {
    throw new InvalidArgumentError('headers must be an object or an array of { key, value }', { field: 'headers' });
  }
  return out;
}

/** One header field as written: the core's encoder and folder, or a prepared value checked for injection. */
function writeField(name: string, value: string, prepared: boolean): string {
  if (!prepared) return customHeaderFields({ [name]: value }, 'headers', RESERVED_FIELDS);
  assertCustomHeaderName(name, `headers[${JSON.stringify(name)}]`);
  // A prepared value may carry its own folding (CRLF + whitespace), never a bare line break.
  const unfolded = value.replace(/\r?\n(?=[ \t])/g, '\r\n');
  if (/[\0]|\r(?!\n[ \t])|(?<!\r)\n/.test(unfolded))
    throw new InvalidArgumentError(`headers[${JSON.stringify(name)}]: a prepared value must not break lines`, {
      field: 'headers',
      code: ErrorCodes.HEADER_INJECTION,
    });
  return `${name}: ${unfolded}\r\n`;
}

/** nodemailer's `<url>` form of a list target. */
function listUrl(url: string): string {
  const u = url.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '').replace(/[\s<]+|[\s>]+/g, '');
  if (/^(https?|mailto|ftp):/.test(u)) return `<${u}>`;
  if (/^[^@]+@[^@]+$/.test(u)) return `<mailto:${u}>`;
  return `<http://${u}>`;
}

/** `list` as nodemailer writes it: one field per entry of each key, an inner array joined in one field. */
function listFieldsOf(list: unknown): string {
  if (list === undefined || list === null || typeof list !== 'object') return '';
  let out = '';
  for (const [rawKey, entries] of Object.entries(list as Record<string, unknown>)) {
    const key = rawKey.toLowerCase().trim();
    const name = defaultHeaderKey(`list-${key}`);
    for (const entry of ([] as unknown[]).concat(entries ?? [])) {
      const parts: string[] = [];
      for (let target of ([] as unknown[]).concat(entry ?? [])) {
        if (typeof target === 'string') target = { url: target };
        const t = target as { url?: unknown; comment?: unknown } | null;
        if (!t || typeof t.url !== 'string' || t.url === '') continue;
        const comment = String(t.comment ?? '').replace(/\r?\n|\r/g, ' ');
        if (key === 'id') {
          const id = listUrl(t.url).replace(/^<[^:]+:\/{0,2}/, '<');
          parts.push(comment ? `${phraseText(comment, 'list.id')} ${id}` : id);
        } else {
          const encoded = /[^\x20-\x7e]/.test(comment) ? encodeWords(comment) : comment.replace(/[()\\]/g, '\\$&');
          parts.push(listUrl(t.url) + (comment ? ` (${encoded})` : ''));
        }
      }
      if (parts.length > 0) out += foldHeader(name, parts.join(', '));
    }
  }
  return out;
}

/** A raw MIME part (`raw` of an attachment or alternative) → its content type, decoded bytes and names. */
function rawPart(raw: Buffer): { contentType: string; content: Buffer; filename: string; cid?: string } {
  const text = raw.toString('latin1');
  const split = /\r?\n\r?\n/.exec(text);
  const head = split ? text.slice(0, split.index) : '';
  const body = split ? raw.subarray(Buffer.byteLength(text.slice(0, split.index + split[0].length), 'latin1')) : raw;
  const fields = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) fields.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const cte = (fields.get('content-transfer-encoding') ?? '').toLowerCase();
  const content =
    cte === 'base64'
      ? Buffer.from(body.toString('latin1').replace(/\s+/g, ''), 'base64')
      : cte === 'quoted-printable'
        ? decodeQuotedPrintable(body.toString('latin1'))
        : body;
  // Kept whole (charset, format, method …: nodemailer inserts the part as it is), less a `name` parameter,
  // which the builder writes from the file name.
  const contentType = (fields.get('content-type') ?? 'text/plain')
    .replace(/;\s*name\*?(?:\*\d+)?\*?=(?:"[^"]*"|[^;]*)/gi, '')
    .trim();
  const name = /(?:file)?name="?([^";]+)"?/i.exec(
    `${fields.get('content-disposition') ?? ''};${fields.get('content-type') ?? ''}`,
  );
  const cid = fields.get('content-id')?.replace(/^<|>$/g, '');
  return { contentType, content, filename: name?.[1] ?? '', ...(cid ? { cid } : {}) };
}

/** `attachDataUrls`: `<img src="data:…">` → an inline attachment referenced by cid, as nodemailer. */
function extractDataImages(html: string, attachments: Record<string, unknown>[]): string {
  let counter = 0;
  return html.replace(
    /(<img\b[^<>]{0,1024} src\s{0,20}=[\s"']{0,20})(data:([^;"'<>\s]{1,255});[^"'>\s]+)/gi,
    (_m, prefix: string, uri: string, type: string) => {
      const cid = `${Date.now().toString(16)}${Math.random().toString(16).slice(2)}@localhost`;
      attachments.push({ path: uri, cid, filename: `image-${++counter}.${EXT[type.toLowerCase()] ?? 'bin'}` });
      return `${prefix}cid:${cid}`;
    },
  );
}

/**
 * A body field (`text`, `html`, `amp`, `watchHtml`) as text. The message-level `encoding` is
 * accepted and, as in nodemailer 10, leaves plain string bodies as they are.
 */
async function bodyText(value: unknown, _encoding: unknown, policy: AccessPolicy, what: string) {
  return resolveText(value, policy, what);
}

async function attachmentInput(a: Record<string, unknown>, i: number, policy: AccessPolicy): Promise<AttachmentInput> {
  const what = `attachments[${i}]`;
  if (a.raw !== undefined) {
    const raw = await resolveContent(a.raw, policy, what);
    const part = rawPart(Buffer.isBuffer(raw) ? raw : Buffer.from(raw ?? '', 'utf8'));
    return {
      filename: typeof a.filename === 'string' ? a.filename : part.filename,
      contentType: part.contentType,
      content: part.content,
      ...(part.cid ? { cid: part.cid } : {}),
    };
  }
  const location = typeof a.href === 'string' ? a.href : typeof a.path === 'string' ? a.path : '';
  const data = /^data:/i.test(location) ? parseDataUri(location) : null;
  const contentType = typeof a.contentType === 'string' ? a.contentType : (data?.contentType ?? undefined);
  let filename: string;
  if (typeof a.filename === 'string') filename = a.filename;
  else if (a.filename === false) filename = '';
  else {
    filename = (data ? '' : location.split(/[/\\]/).pop()?.split('?').shift()) || `attachment-${i + 1}`;
    if (!filename.includes('.') && contentType) filename += `.${EXT[contentType.toLowerCase()] ?? 'bin'}`;
  }
  const content =
    sourceKind(a) === 'inline' && a.content === undefined ? Buffer.alloc(0) : await resolveContent(a, policy, what);
  const out: AttachmentInput = {
    filename,
    content: content ?? Buffer.alloc(0),
    ...(contentType ? { contentType } : {}),
    ...(typeof a.cid === 'string' ? { cid: a.cid } : {}),
    ...(a.contentDisposition === 'inline' || a.contentDisposition === 'attachment'
      ? { contentDisposition: a.contentDisposition }
      : {}),
    ...(a.headers && typeof a.headers === 'object' && !Array.isArray(a.headers)
      ? { headers: a.headers as Record<string, string> }
      : {}),
  };
  return out;
}

async function alternativeInput(
  a: Record<string, unknown>,
  i: number,
  policy: AccessPolicy,
): Promise<AlternativeInput> {
  const what = `alternatives[${i}]`;
  if (a.raw !== undefined) {
    const raw = await resolveContent(a.raw, policy, what);
    const part = rawPart(Buffer.isBuffer(raw) ? raw : Buffer.from(raw ?? '', 'utf8'));
    return { contentType: part.contentType, content: part.content };
  }
  const content = await resolveContent(a, policy, what);
  const contentType = typeof a.contentType === 'string' ? a.contentType : 'text/plain';
  return { contentType, content: typeof content === 'string' ? content : (content ?? Buffer.alloc(0)) };
}

async function icalInput(value: unknown, policy: AccessPolicy): Promise<IcalEventInput | string | undefined> {
  if (value === undefined || value === null || value === false) return undefined;
  if (typeof value === 'string') return value;
  const o = value as { method?: string; filename?: string };
  const content = await resolveContent(value, policy, 'icalEvent');
  return {
    ...(o.method ? { method: o.method } : {}),
    ...(o.filename ? { filename: o.filename } : {}),
    content: content ?? '',
  };
}

/** The Message-ID as nodemailer writes it: angle brackets added when missing. */
function bracket(id: string): string {
  const t = id.trim();
  return t.startsWith('<') ? t : `<${t}>`;
}

/** In-Reply-To / References: written past the builder's checks, so through the core's injection guard first. */
function idField(name: string, value: string, field: string): string {
  assertNoInjection(value, field);
  return foldHeader(name, value);
}

/** The SMTP envelope nodemailer derives: `envelope` when given (its `cc`/`bcc` too), else the headers. */
export function envelopeOf(data: MailData): Composed['envelope'] {
  const e = data.envelope;
  if (e && typeof e === 'object') {
    const from = wireSingle(e.from ?? data.from ?? data.sender, 'envelope.from');
    return {
      from,
      to: wireList(
        [e.to, e.cc, e.bcc].filter((x) => x !== undefined),
        'envelope.to',
      ),
    };
  }
  const from =
    wireSingle(data.from, 'from') || wireSingle(data.sender, 'sender') || wireSingle(data.replyTo, 'replyTo');
  return {
    from,
    to: wireList(
      [data.to, data.cc, data.bcc].filter((x) => x !== undefined),
      'to',
    ),
  };
}

const HEADER_BLOCK_END = '\r\nMIME-Version: ';

/**
 * Composes one message. @throws InvalidArgumentError (a field the core refuses) or nodemailer's
 * EMESSAGE error (content that cannot be read, access refused).
 */
export async function compose(data: MailData, options: ComposeOptions): Promise<Composed> {
  const policy: AccessPolicy = {
    disableFileAccess: options.disableFileAccess === true || data.disableFileAccess === true,
    disableUrlAccess: options.disableUrlAccess === true || data.disableUrlAccess === true,
  };
  const envelope = envelopeOf(data);
  if (data.raw !== undefined && data.raw !== null) {
    const raw = await resolveContent(data.raw, policy, 'raw');
    const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw ?? '', 'utf8');
    // The engine's one reader: the header block only (a body line that looks like the field is not it).
    const id = readMessageId(bytes);
    return { raw: bytes, envelope, messageId: id ?? (data.messageId ? bracket(data.messageId) : '') };
  }
  const attachments = [...((data.attachments ?? []) as Record<string, unknown>[])];
  let html = await bodyText(data.html, data.encoding, policy, 'html');
  if (html !== null && data.attachDataUrls === true) html = extractDataImages(html, attachments);
  const text = await bodyText(data.text, data.encoding, policy, 'text');
  const watchHtml = await bodyText(data.watchHtml, data.encoding, policy, 'watchHtml');
  const amp = await bodyText(data.amp, data.encoding, policy, 'amp');
  const alternatives: AlternativeInput[] = [];
  if (watchHtml !== null) alternatives.push({ contentType: 'text/watch-html; charset=utf-8', content: watchHtml });
  if (amp !== null) alternatives.push({ contentType: 'text/x-amp-html; charset=utf-8', content: amp });
  const extra = (data.alternatives ?? []) as Record<string, unknown>[];
  for (let i = 0; i < extra.length; i++) alternatives.push(await alternativeInput(extra[i]!, i, policy));
  const parts: AttachmentInput[] = [];
  for (let i = 0; i < attachments.length; i++) parts.push(await attachmentInput(attachments[i]!, i, policy));
  const icalEvent = await icalInput(data.icalEvent, policy);

  const from = mailboxes(data.from, 'from')[0];
  if (from === undefined)
    throw new InvalidArgumentError('from is required (the From header and the envelope sender)', {
      field: 'from',
      code: ErrorCodes.INVALID_ADDRESS,
    });
  const asInput = (list: unknown, field: string) =>
    mailboxes(list, field).map((m) => ({ name: m.name, address: m.address }));
  const replyTo = asInput(data.replyTo, 'replyTo');

  // Header fields: In-Reply-To and References are ordinary fields to the builder.
  const normalizeKey = options.normalizeHeaderKey ?? data.normalizeHeaderKey ?? defaultHeaderKey;
  let extraFields = '';
  const sender = mailboxes(data.sender, 'sender')[0];
  if (sender) extraFields += foldHeader('Sender', headerText(sender), { structured: true });
  if (data.inReplyTo) extraFields += idField('In-Reply-To', bracket(String(data.inReplyTo)), 'inReplyTo');
  if (data.references) {
    const refs = ([] as string[]).concat(data.references as string | string[]).flatMap((r) => String(r).split(/\s+/));
    extraFields += idField('References', refs.filter(Boolean).map(bracket).join(' '), 'references');
  }
  let messageId = data.messageId ? bracket(String(data.messageId)) : undefined;
  let date = data.date === undefined ? undefined : new Date(data.date);
  let subject = data.subject === undefined || data.subject === null ? undefined : String(data.subject);
  for (const h of headerEntries(data.headers)) {
    const name = normalizeKey(h.key);
    const lower = name.toLowerCase();
    // nodemailer lets headers set these; the builder writes them from its options.
    if (lower === 'message-id') messageId = bracket(h.value);
    else if (lower === 'subject' && (data.subject === undefined || data.subject === null)) subject = h.value;
    else if (lower === 'date') date = new Date(h.value);
    else extraFields += writeField(name, h.value, h.prepared);
  }
  if (data.xMailer) extraFields += writeField('X-Mailer', String(data.xMailer), false);
  extraFields += listFieldsOf(data.list);

  const build: BuildMessageOptions = {
    fromAddress: { name: from.name, address: from.address },
    toAddresses: asInput(data.to, 'to'),
    subject: subject ?? '',
    ...(data.cc === undefined ? {} : { ccAddresses: asInput(data.cc, 'cc') }),
    ...(data.bcc === undefined ? {} : { bccAddresses: asInput(data.bcc, 'bcc') }),
    ...(replyTo.length ? { replyTo } : {}),
    ...(text === null ? {} : { textBody: text }),
    ...(html === null ? {} : { htmlBody: html }),
    ...(alternatives.length ? { alternatives } : {}),
    ...(parts.length ? { attachments: parts } : {}),
    ...(icalEvent === undefined ? {} : { icalEvent }),
    ...(messageId === undefined ? {} : { messageId }),
    ...(date === undefined || Number.isNaN(date.getTime()) ? {} : { date }),
    ...(data.priority === 'high' || data.priority === 'low' ? { priority: data.priority } : {}),
  };
  if (build.toAddresses.length + (build.ccAddresses?.length ?? 0) + (build.bccAddresses?.length ?? 0) === 0) {
    // nodemailer sends to an `envelope` alone; the builder wants a recipient, so give it Bcc (never written).
    if (envelope.to.length > 0) build.bccAddresses = envelope.to;
  }
  const built = buildMessage(build);
  const body = await built.toBuffer();
  const headerBytes = Buffer.byteLength(built.headers, 'utf8');
  let headers = built.headers;
  // nodemailer writes no Subject field for a message without one; the builder writes an empty one.
  if (subject === undefined) headers = headers.replace(/^Subject: \r\n/m, '');
  if (extraFields) {
    const at = headers.indexOf(HEADER_BLOCK_END);
    headers = at === -1 ? extraFields + headers : headers.slice(0, at + 2) + extraFields + headers.slice(at + 2);
  }
  return {
    raw: Buffer.concat([Buffer.from(headers, 'utf8'), body.subarray(headerBytes)]),
    envelope,
    messageId: built.messageId,
  };
}
