/**
 * SMTP replies: the `Reply` value and an incremental parser from bytes to whole replies.
 * RFC 5321 §4.2 (reply lines), RFC 2034 / RFC 3463 (enhanced status codes).
 */
import { ErrorCodes, ProtocolError } from '../errors.js';

/** One complete reply, possibly multi-line. Plain data. */
export interface Reply {
  /** Three-digit reply code, 200..599. */
  readonly code: number;
  /** Enhanced status code `class.subject.detail` (e.g. `5.1.1`) when the first line carries one. */
  readonly enhanced: string | null;
  /** Text of each line after `ddd ` / `ddd-`, enhanced code removed. */
  readonly lines: readonly string[];
}

/** 2xx and 3xx: the command was accepted (3xx asks for more). */
export function isPositive(reply: Reply): boolean {
  return reply.code < 400;
}
/** 4xx: try again later. */
export function isTransient(reply: Reply): boolean {
  return reply.code >= 400 && reply.code < 500;
}
/** 5xx: do not try again. */
export function isPermanent(reply: Reply): boolean {
  return reply.code >= 500;
}

/** `550 5.1.1 No such user` on one line, for messages and results. */
export function formatReply(reply: Reply): string {
  const text = reply.lines.join(' ').trim();
  const head = reply.enhanced === null ? String(reply.code) : `${reply.code} ${reply.enhanced}`;
  return text === '' ? head : `${head} ${text}`;
}

/**
 * True when `reply.code` matches `expect`, a prefix: 2 means 2xx, 25 means 25x, 250 means exactly 250.
 */
export function replyMatches(reply: Reply, expect: number): boolean {
  if (expect >= 100) return reply.code === expect;
  if (expect >= 10) return Math.floor(reply.code / 10) === expect;
  return Math.floor(reply.code / 100) === expect;
}

/** go-smtp's limit: lenient against the 512-octet reply line of RFC 5321 §4.5.3.1.5. */
export const DEFAULT_MAX_LINE_LENGTH = 2000;
/** A long EHLO reply has a few dozen lines; more is a broken or hostile server. */
export const DEFAULT_MAX_REPLY_LINES = 200;

export interface ReplyParserOptions {
  maxLineLength?: number;
  maxReplyLines?: number;
  /** Called with every line as received (CRLF removed), for transcripts. */
  onLine?: (line: string) => void;
}

const LF = 0x0a;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)/;

/**
 * Turns a byte stream into replies, whatever the chunking. Keeps only the unterminated tail of the
 * input (bounded by `maxLineLength`) and searches each new chunk once, so work is linear in the input.
 * After it throws, the parser is poisoned: every later `push` throws the same error.
 */
export class ReplyParser {
  readonly #maxLineLength: number;
  readonly #maxReplyLines: number;
  readonly #onLine: ((line: string) => void) | undefined;
  /** Bytes of the current, unterminated line, in arrival order. */
  #partial: Buffer[] = [];
  #partialLength = 0;
  /** Lines of the current multi-line reply (text only), and its code. */
  #lines: string[] = [];
  #code = 0;
  #error: ProtocolError | null = null;
  /** What `push` left unread when it stopped at `maxReplies`: read first by the next `push`. */
  #unread: Buffer | null = null;

  constructor(options: ReplyParserOptions = {}) {
    this.#maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.#maxReplyLines = options.maxReplyLines ?? DEFAULT_MAX_REPLY_LINES;
    this.#onLine = options.onLine;
  }

  /** Octets received and not part of a returned reply: an unterminated line, and what `push` left unread. */
  get bufferedBytes(): number {
    return this.#partialLength + (this.#unread?.length ?? 0);
  }

  /**
   * Feeds bytes; returns the replies completed by them (often none or one).
   * With `maxReplies`, stops after that many replies; the rest of the chunk is kept unread (counted in
   * `bufferedBytes`) and parsed first by the next `push` (an empty chunk will do), unless the caller
   * drops the parser (plaintext after STARTTLS's 220).
   * @throws ProtocolError `ERR_SMTP_PROTOCOL` for a malformed line, `ERR_SMTP_LINE_TOO_LONG` for a line
   *   over `maxLineLength` or a reply over `maxReplyLines`.
   */
  push(chunk: Uint8Array, maxReplies?: number): Reply[] {
    if (this.#error) throw this.#error;
    const replies: Reply[] = [];
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#unread !== null) {
      buf = buf.length === 0 ? this.#unread : Buffer.concat([this.#unread, buf]);
      this.#unread = null;
    }
    let start = 0;
    try {
      while (start < buf.length) {
        const lf = buf.indexOf(LF, start);
        if (lf === -1) {
          this.#keepPartial(buf.subarray(start));
          break;
        }
        let line: Buffer;
        if (this.#partialLength === 0) {
          line = buf.subarray(start, lf);
        } else {
          this.#partial.push(buf.subarray(start, lf));
          line = Buffer.concat(this.#partial, this.#partialLength + lf - start);
          this.#partial = [];
          this.#partialLength = 0;
        }
        start = lf + 1;
        const reply = this.#line(line);
        if (reply) {
          replies.push(reply);
          // The caller wants nothing read past this reply (e.g. plaintext after STARTTLS's 220).
          if (replies.length === maxReplies) {
            if (start < buf.length) this.#unread = Buffer.from(buf.subarray(start));
            break;
          }
        }
      }
    } catch (err) {
      this.#error = err as ProtocolError;
      throw err;
    }
    return replies;
  }

  #keepPartial(bytes: Buffer): void {
    // Check the start of a line as soon as it arrives: garbage without a line break must fail
    // now, not after the command timeout.
    const seen = this.#partialLength;
    for (let i = 0; i < bytes.length && seen + i < 4; i++) {
      const b = bytes[i]!;
      const pos = seen + i;
      const ok =
        pos === 0 ? b >= 0x32 && b <= 0x35 : pos < 3 ? b >= 0x30 && b <= 0x39 : b === 0x20 || b === 0x2d || b === 0x0d;
      if (!ok)
        throw new ProtocolError(
          `malformed reply line: ${JSON.stringify(preview(Buffer.concat([...this.#partial, bytes])))}`,
        );
    }
    this.#partialLength += bytes.length;
    // Checked before the LF arrives, so a server that never ends its line cannot grow the buffer. The
    // limit excludes CRLF: one more octet is allowed when it is the CR, so the verdict on a line does
    // not depend on whether a TCP chunk splits its CR from its LF.
    const over = this.#partialLength - this.#maxLineLength;
    if (over > 1 || (over === 1 && bytes[bytes.length - 1] !== 0x0d)) {
      throw new ProtocolError(`reply line longer than ${this.#maxLineLength} octets`, {
        code: ErrorCodes.LINE_TOO_LONG,
      });
    }
    // Copy: the caller may reuse the chunk's memory.
    this.#partial.push(Buffer.from(bytes));
  }

  #line(raw: Buffer): Reply | null {
    let end = raw.length;
    if (end > 0 && raw[end - 1] === 0x0d) end--;
    if (end > this.#maxLineLength) {
      throw new ProtocolError(`reply line longer than ${this.#maxLineLength} octets`, {
        code: ErrorCodes.LINE_TOO_LONG,
      });
    }
    this.#onLine?.(raw.toString('utf8', 0, end));
    const c0 = raw[0]! - 0x30;
    const c1 = raw[1]! - 0x30;
    const c2 = raw[2]! - 0x30;
    const sep = end > 3 ? raw[3] : 0x20;
    if (
      end < 3 ||
      !(c0 >= 2 && c0 <= 5) ||
      !(c1 >= 0 && c1 <= 9) ||
      !(c2 >= 0 && c2 <= 9) ||
      (sep !== 0x20 && sep !== 0x2d)
    ) {
      throw new ProtocolError(`malformed reply line: ${JSON.stringify(preview(raw.subarray(0, end)))}`);
    }
    const code = c0 * 100 + c1 * 10 + c2;
    if (this.#lines.length > 0 && code !== this.#code) {
      throw new ProtocolError(`reply code changed within a multi-line reply (${this.#code} then ${code})`);
    }
    if (sep === 0x20 && this.#lines.length === 0) {
      // The common case, a one-line reply: code, enhanced code and text read off the bytes, one string each.
      const fast = oneLineReply(raw, code, end);
      if (fast !== null) return fast;
    }
    this.#code = code;
    this.#lines.push(end > 4 ? raw.toString('utf8', 4, end) : '');
    if (this.#lines.length > this.#maxReplyLines) {
      throw new ProtocolError(`reply longer than ${this.#maxReplyLines} lines`, { code: ErrorCodes.LINE_TOO_LONG });
    }
    if (sep === 0x2d) return null;
    const lines = this.#lines;
    this.#lines = [];
    return makeReply(code, lines);
  }
}

/** Builds a Reply, lifting the enhanced code off the lines when its class matches the reply code. */
export function makeReply(code: number, lines: string[]): Reply {
  let enhanced: string | null = null;
  const first = ENHANCED.exec(lines[0] ?? '');
  if (first && Number(first[1]) === Math.floor(code / 100)) {
    enhanced = `${first[1]}.${Number(first[2])}.${Number(first[3])}`;
    // Servers repeat the code on every line (RFC 2034 §4); strip it wherever it matches.
    for (let i = 0; i < lines.length; i++) {
      const m = ENHANCED.exec(lines[i]!);
      if (m) lines[i] = lines[i]!.slice(m[0].length);
    }
  }
  return { code, enhanced, lines };
}

/**
 * A one-line reply read straight from its bytes (`250 2.1.0 Ok`): the same value as `makeReply`, or
 * null when the line needs the general path (an enhanced code with leading zeros or followed by
 * anything but spaces or tabs and printable ASCII, where the regex's rules decide).
 */
function oneLineReply(raw: Buffer, code: number, end: number): Reply | null {
  let i = 4;
  const cls = raw[4]! - 0x30;
  let enhanced: string | null = null;
  if (end > 4 && (cls === 2 || cls === 4 || cls === 5) && raw[5] === 0x2e) {
    const a = digits(raw, 6, end);
    const b = a > 6 && raw[a] === 0x2e ? digits(raw, a + 1, end) : -1;
    if (b > a + 1) {
      // A leading zero would be normalised (`2.01.0` → `2.1.0`): the general path does that.
      if ((a - 6 > 1 && raw[6] === 0x30) || (b - a - 1 > 1 && raw[a + 1] === 0x30)) return null;
      if (b === end || raw[b] === 0x20 || raw[b] === 0x09) {
        if (cls === Math.floor(code / 100)) {
          enhanced = raw.toString('latin1', 4, b);
          i = b;
          while (i < end && (raw[i] === 0x20 || raw[i] === 0x09)) i++;
        }
      } else if (raw[b]! < 0x21 || raw[b]! > 0x7e) return null;
    }
  }
  // Other white space (\s in the general path's regex) right after the code: let the regex decide.
  if (enhanced !== null && i < end && (raw[i]! < 0x20 || raw[i]! > 0x7e)) return null;
  return { code, enhanced, lines: [i < end ? raw.toString('utf8', i, end) : ''] };
}

/** The end of a run of 1–3 ASCII digits at `from` (`from` itself when there is none, -1 when over 3). */
function digits(raw: Buffer, from: number, end: number): number {
  let i = from;
  while (i < end && raw[i]! >= 0x30 && raw[i]! <= 0x39) i++;
  return i - from > 3 ? -1 : i;
}

function preview(bytes: Buffer): string {
  return bytes.subarray(0, 60).toString('latin1');
}
