/**
 * nodemailer's content sources → bytes or text: a string, a Buffer, a stream, `{ content,
 * encoding }`, `{ path }` (a file, or a `data:` URI), `{ href }` / an http(s) `path` (fetched with
 * Node's `fetch`, `httpHeaders` sent). `disableFileAccess` / `disableUrlAccess` refuse those
 * sources as nodemailer does. Everything read into memory is bounded.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { nodemailerError } from './errors.js';

/** The most a stream, file or URL may give (a message this large would be refused by servers anyway). */
export const MAX_CONTENT_BYTES = 64 * 1024 * 1024;

export interface AccessPolicy {
  disableFileAccess?: boolean | undefined;
  disableUrlAccess?: boolean | undefined;
}

/** What nodemailer accepts where it takes content. */
export type ContentSource =
  | string
  | Buffer
  | Uint8Array
  | Readable
  | {
      content?: string | Buffer | Uint8Array | Readable;
      encoding?: string;
      path?: string;
      href?: string;
      httpHeaders?: Record<string, string>;
    };

export function isStream(value: unknown): value is Readable {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Readable).pipe === 'function' &&
    Symbol.asyncIterator in (value as object)
  );
}

const URL_PATH = /^https?:\/\//i;

/** A `data:` URI → its bytes and media type. */
export function parseDataUri(uri: string): { content: Buffer; contentType: string } | null {
  const m = /^data:([^,]*?),(.*)$/is.exec(uri);
  if (!m) return null;
  const params = m[1]!.split(';');
  const base64 = params.at(-1)?.toLowerCase() === 'base64';
  if (base64) params.pop();
  const contentType = params[0]?.trim() || 'text/plain';
  const data = m[2]!;
  if (base64) return { content: Buffer.from(data, 'base64'), contentType };
  try {
    return { content: Buffer.from(decodeURIComponent(data), 'utf8'), contentType };
  } catch {
    // A stray '%' is the caller's bad input: nodemailer's message error, not a URIError thrown through sendMail.
    throw nodemailerError('EMESSAGE', 'a data: URI holds a malformed %-escape', { command: 'API' });
  }
}

/** Reads a stream into one Buffer, at most {@link MAX_CONTENT_BYTES}. */
export async function readStream(stream: Readable, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    size += b.length;
    if (size > MAX_CONTENT_BYTES) {
      stream.destroy();
      throw nodemailerError('EMESSAGE', `${what} is larger than ${MAX_CONTENT_BYTES} bytes`, { command: 'API' });
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** How long fetching one URL source (headers and body) may take: a server that stops answering fails the send. */
const FETCH_TIMEOUT_MS = 5 * 60_000;

async function fetchUrl(href: string, headers: Record<string, string> | undefined, what: string): Promise<Buffer> {
  const signal = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(href, { ...(headers ? { headers } : {}), redirect: 'follow', signal });
  } catch (err) {
    throw nodemailerError('ESTREAM', `${what}: cannot fetch ${href}: ${(err as Error).message}`, {
      cause: err,
      command: 'API',
    });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw nodemailerError('ESTREAM', `${what}: invalid status code ${res.status} from ${href}`, { command: 'API' });
  }
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_CONTENT_BYTES) {
    await res.body?.cancel();
    throw nodemailerError('EMESSAGE', `${what}: ${href} is larger than ${MAX_CONTENT_BYTES} bytes`, { command: 'API' });
  }
  let body: Buffer | null;
  try {
    body = await boundedBody(res, MAX_CONTENT_BYTES);
  } catch (err) {
    throw nodemailerError('ESTREAM', `${what}: cannot read ${href}: ${(err as Error).message}`, {
      cause: err,
      command: 'API',
    });
  }
  if (body === null)
    throw nodemailerError('EMESSAGE', `${what}: ${href} is larger than ${MAX_CONTENT_BYTES} bytes`, { command: 'API' });
  return body;
}

/** A fetch response's body, or null (the rest cancelled) once it passes `max` bytes. */
async function boundedBody(res: Response, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.length;
    if (size > max) {
      await res.body?.cancel().catch(() => {});
      return null;
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** A fetch response's body as text, at most `max` bytes (a larger body throws). */
export async function boundedText(res: Response, max: number): Promise<string> {
  const body = await boundedBody(res, max);
  if (body === null) throw new Error(`response larger than ${max} bytes`);
  return body.toString('utf8');
}

/** The access refusals nodemailer gives (same wording). */
function refuse(kind: 'File' | 'Url', where: string): never {
  // nodemailer reports it while the message is read: ESTREAM.
  throw nodemailerError('ESTREAM', `${kind} access rejected for ${where}`, {
    command: 'API',
  });
}

/** Whether a source points at a file or URL (so that resolving it does I/O). */
export function sourceKind(value: unknown): 'file' | 'url' | 'data' | 'inline' {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || isStream(value)) return 'inline';
  const o = value as { path?: unknown; href?: unknown };
  if (typeof o.href === 'string') return /^data:/i.test(o.href) ? 'data' : 'url';
  if (typeof o.path === 'string') return /^data:/i.test(o.path) ? 'data' : URL_PATH.test(o.path) ? 'url' : 'file';
  return 'inline';
}

/**
 * The bytes (or text, for a plain string) of one source; `null` when it has none.
 * @throws nodemailer's EMESSAGE for an access refused by the policy, a missing file, a failed fetch.
 */
export async function resolveContent(
  value: unknown,
  policy: AccessPolicy,
  what: string,
): Promise<string | Buffer | null> {
  if (value === undefined || value === null || value === false) return null;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (isStream(value)) return readStream(value, what);
  if (typeof value !== 'object') return String(value);
  const o = value as Exclude<ContentSource, string | Buffer | Uint8Array | Readable>;
  const location = typeof o.href === 'string' ? o.href : o.path;
  if (typeof location === 'string') {
    const data = /^data:/i.test(location) ? parseDataUri(location) : null;
    if (data) return data.content;
    if (typeof o.href === 'string' || URL_PATH.test(location)) {
      if (policy.disableUrlAccess) refuse('Url', location);
      return fetchUrl(location, o.httpHeaders, what);
    }
    if (policy.disableFileAccess) refuse('File', location);
    try {
      const info = await stat(location);
      if (info.size > MAX_CONTENT_BYTES)
        throw nodemailerError('EMESSAGE', `${what}: ${location} is larger than ${MAX_CONTENT_BYTES} bytes`);
      return await readFile(location);
    } catch (err) {
      if ((err as { code?: string }).code === 'EMESSAGE' || (err as { code?: string }).code === 'EFILEACCESS')
        throw err;
      throw nodemailerError('EMESSAGE', `${what}: ${(err as Error).message}`, { cause: err, command: 'API' });
    }
  }
  const c = o.content;
  if (c === undefined || c === null) return null;
  if (typeof c === 'string') {
    const enc = (o.encoding ?? '').toLowerCase().replace(/-/g, '');
    return enc === '' || enc === 'utf8' ? c : Buffer.from(c, enc as BufferEncoding);
  }
  return resolveContent(c, policy, what);
}

/** As {@link resolveContent}, always text (UTF-8). */
export async function resolveText(value: unknown, policy: AccessPolicy, what: string): Promise<string | null> {
  const v = await resolveContent(value, policy, what);
  return v === null ? null : typeof v === 'string' ? v : v.toString('utf8');
}
