/**
 * The mail transaction commands of the scripted server (RFC 5321 §3.3): MAIL and RCPT with their
 * parameters, the DATA body and BDAT chunks (RFC 3030), the message record, and the final reply, or
 * one reply per recipient under LMTP (RFC 2033 §4.2). Every reply goes through the session's
 * `respond`, so scripts and faults apply to these commands as to any other.
 */
import type { ByteReader } from './byte-reader.js';
import { bodyFacts, unstuffDataBody } from './message-body.js';
import { FramingTerminatorScanner, LenientTerminatorScanner } from './quirks.js';
import type { MessageRecord, SessionRecord, SmtpParams } from './records.js';
import type { Answer, SessionHost, Settings } from './session-types.js';
import { isAscii, isPositive } from './wire.js';

/** An open mail transaction (RFC 5321 §3.3). */
export interface Transaction {
  mailFrom: string;
  mailParams: SmtpParams;
  rcptTo: string[];
  rcptParams: SmtpParams[];
  refusedRcptTo: string[];
  /** BDAT chunks so far (RFC 3030), or null when no BDAT was seen. */
  chunks: Buffer[] | null;
  chunkSizes: number[];
  chunkBytes: number;
  /** A BDAT chunk got a non-2xx reply: later chunks are refused until RSET (RFC 3030 §2). */
  bdatFailed: boolean;
}

/** Which EHLO keyword each MAIL/RCPT parameter needs. */
const PARAM_EXTENSION: Readonly<Record<string, string>> = {
  SIZE: 'SIZE', // RFC 1870
  BODY: '8BITMIME', // RFC 6152 (BINARYMIME checked separately, RFC 3030)
  SMTPUTF8: 'SMTPUTF8', // RFC 6531
  RET: 'DSN', // RFC 3461
  ENVID: 'DSN',
  NOTIFY: 'DSN',
  ORCPT: 'DSN',
  AUTH: 'AUTH', // RFC 4954 §5
  REQUIRETLS: 'REQUIRETLS', // RFC 8689
};

/** What the transaction commands use of their session. */
export interface TransactionSession {
  readonly record: SessionRecord;
  respond(
    events: readonly string[],
    line: string,
    lines: readonly string[],
    effect?: (code: number) => void | Promise<void>,
  ): Promise<Answer>;
  /** Reply text, with an enhanced status code when ENHANCEDSTATUSCODES is in force. */
  fmt(code: number, enhanced: string, text: string): string;
  /** The EHLO keyword was advertised in this session. */
  offers(keyword: string): boolean;
  /** The message size limit in force. */
  sizeLimit(): number;
}

/**
 * Parse `<path> params` after `FROM:` / `TO:` (RFC 5321 §4.1.2). Strict: no space before
 * `<`, parameters as `KEY[=VALUE]` separated by spaces.
 */
function parsePath(arg: string, prefix: 'FROM:' | 'TO:'): { path: string; params: SmtpParams } | string {
  if (arg.slice(0, prefix.length).toUpperCase() !== prefix) return `Syntax: expected ${prefix}<address>`;
  const rest = arg.slice(prefix.length);
  const m = /^<([^<>\s]*)>(.*)$/.exec(rest);
  if (m === null) return `Syntax: expected ${prefix}<address>`;
  const params: SmtpParams = {};
  const tail = m[2] ?? '';
  if (tail !== '') {
    if (!tail.startsWith(' ')) return 'Syntax: a space must separate parameters';
    // Trailing spaces are tolerated, as Postfix does (a line cut at its limit may end in them).
    for (const token of tail.trim() === '' ? [] : tail.trim().split(/ +/)) {
      const eq = token.indexOf('=');
      const key = (eq === -1 ? token : token.slice(0, eq)).toUpperCase();
      if (!/^[A-Z0-9][A-Z0-9-]*$/.test(key)) return `Syntax: bad parameter ${token}`;
      params[key] = eq === -1 ? true : token.slice(eq + 1);
    }
  }
  return { path: m[1] ?? '', params };
}

function countCrlf(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(0x0a, 1); i !== -1; i = data.indexOf(0x0a, i + 1)) if (data[i - 1] === 0x0d) n++;
  return n;
}

/** 555 when a parameter's extension was not advertised or is unknown (RFC 5321 §4.1.1.11). */
function unsupportedParam(params: SmtpParams, offers: (keyword: string) => boolean): string | null {
  for (const key of Object.keys(params)) {
    const value = params[key];
    const extension = key === 'BODY' && value === 'BINARYMIME' ? 'BINARYMIME' : PARAM_EXTENSION[key];
    if (extension === undefined || !offers(extension)) return key;
  }
  return null;
}

/** MAIL, RCPT, DATA and BDAT of one session, and its open transaction. */
export class Transactions {
  /** The open mail transaction, or null (RSET, EHLO, STARTTLS and every final reply end it). */
  current: Transaction | null = null;
  readonly #session: TransactionSession;
  readonly #settings: Settings;
  readonly #host: SessionHost;
  readonly #in: ByteReader;

  constructor(session: TransactionSession, settings: Settings, host: SessionHost, reader: ByteReader) {
    this.#session = session;
    this.#settings = settings;
    this.#host = host;
    this.#in = reader;
  }

  async mail(text: string, arg: string): Promise<void> {
    const fail = (code: number, enhanced: string, message: string): Promise<Answer> =>
      this.#session.respond(['MAIL'], text, [this.#session.fmt(code, enhanced, message)]);
    if (this.#session.record.helo === null) return void (await fail(503, '5.5.1', 'Send EHLO or HELO first'));
    if (this.#settings.requireAuth && this.#session.record.authUser === null) {
      return void (await fail(530, '5.7.0', 'Authentication required'));
    }
    if (this.current !== null) return void (await fail(503, '5.5.1', 'Nested MAIL command'));
    const parsed = parsePath(arg, 'FROM:');
    if (typeof parsed === 'string') return void (await fail(501, '5.5.4', parsed));
    const { path, params } = parsed;
    const unsupported = unsupportedParam(params, this.#session.offers);
    if (unsupported !== null) return void (await fail(555, '5.5.4', `${unsupported} parameter not supported`));
    if (params.SIZE !== undefined) {
      if (typeof params.SIZE !== 'string' || !/^\d+$/.test(params.SIZE)) {
        return void (await fail(501, '5.5.4', 'Syntax: SIZE=<octets>'));
      }
      if (Number(params.SIZE) > this.#session.sizeLimit()) {
        return void (await fail(552, '5.3.4', 'Message size exceeds fixed maximum message size'));
      }
    }
    if (params.BODY !== undefined && !['7BIT', '8BITMIME', 'BINARYMIME'].includes(String(params.BODY).toUpperCase())) {
      return void (await fail(501, '5.5.4', 'Syntax: BODY=7BIT|8BITMIME|BINARYMIME'));
    }
    if (params.SMTPUTF8 !== undefined && params.SMTPUTF8 !== true) {
      return void (await fail(501, '5.5.4', 'SMTPUTF8 takes no value'));
    }
    // RFC 6531 §3.4: a UTF-8 address needs the SMTPUTF8 parameter.
    if (!isAscii(path) && params.SMTPUTF8 === undefined) {
      return void (await fail(553, '5.6.7', 'Non-ASCII address requires SMTPUTF8'));
    }
    await this.#session.respond(['MAIL'], text, [this.#session.fmt(250, '2.1.0', `Sender <${path}> OK`)], (code) => {
      if (!isPositive(code)) return;
      this.current = {
        mailFrom: path,
        mailParams: params,
        rcptTo: [],
        rcptParams: [],
        refusedRcptTo: [],
        chunks: null,
        chunkSizes: [],
        chunkBytes: 0,
        bdatFailed: false,
      };
    });
  }

  async rcpt(text: string, arg: string): Promise<void> {
    const tx = this.current;
    const parsed = parsePath(arg, 'TO:');
    const refuse = (code: number, enhanced: string, message: string): Promise<Answer> => {
      if (tx !== null && typeof parsed !== 'string') tx.refusedRcptTo.push(parsed.path);
      return this.#session.respond(['RCPT'], text, [this.#session.fmt(code, enhanced, message)]);
    };
    if (tx === null) return void (await refuse(503, '5.5.1', 'Need MAIL command'));
    if (typeof parsed === 'string') return void (await refuse(501, '5.5.4', parsed));
    const { path, params } = parsed;
    if (path === '') return void (await refuse(501, '5.1.3', 'Empty recipient address'));
    const unsupported = unsupportedParam(params, this.#session.offers);
    if (unsupported !== null) return void (await refuse(555, '5.5.4', `${unsupported} parameter not supported`));
    if (!isAscii(path) && tx.mailParams.SMTPUTF8 === undefined) {
      return void (await refuse(553, '5.6.7', 'Non-ASCII address requires SMTPUTF8'));
    }
    if (tx.rcptTo.length >= this.#settings.maxRecipients) {
      return void (await refuse(452, '4.5.3', 'Too many recipients'));
    }
    await this.#session.respond(['RCPT'], text, [this.#session.fmt(250, '2.1.5', `Recipient <${path}> OK`)], (code) => {
      if (isPositive(code)) {
        tx.rcptTo.push(path);
        tx.rcptParams.push(params);
      } else {
        tx.refusedRcptTo.push(path);
      }
    });
  }

  async data(text: string, arg: string): Promise<void> {
    const fail = (code: number, enhanced: string, message: string): Promise<Answer> =>
      this.#session.respond(['DATA'], text, [this.#session.fmt(code, enhanced, message)]);
    const tx = this.current;
    if (arg !== '') return void (await fail(501, '5.5.4', 'Syntax: DATA'));
    if (tx === null) return void (await fail(503, '5.5.1', 'Need MAIL command'));
    if (tx.chunks !== null) return void (await fail(503, '5.5.1', 'DATA not allowed after BDAT'));
    // RFC 2920 §3.1: with every recipient refused, DATA gets 554 and no body follows.
    if (tx.rcptTo.length === 0) return void (await fail(554, '5.5.1', 'No valid recipients'));
    // 354 has no enhanced code: RFC 2034 gives them to 2xx, 4xx and 5xx only.
    await this.#session.respond(['DATA'], text, ['354 End data with <CR><LF>.<CR><LF>'], async (code) => {
      if (code !== 354) return;
      // A lenient end-of-data recognizer is a quirk, to prove a smuggling check can fail.
      const { endOfData: lenient, endOfDataInLfFraming: framing } = this.#settings.quirks;
      const body = await this.#in.readDataBody(
        2 * this.#session.sizeLimit() + 5,
        lenient ? new LenientTerminatorScanner(lenient) : framing ? new FramingTerminatorScanner() : undefined,
      );
      if (body === null) return;
      const data = body.oversize ? Buffer.alloc(0) : unstuffDataBody(body.raw);
      // The `sizeWithoutCr` quirk counts as Exim does: every CRLF as one octet.
      const counted = this.#settings.quirks.sizeWithoutCr ? data.length - countCrlf(data) : data.length;
      const oversize = body.oversize || counted > this.#session.sizeLimit();
      const message = this.#message(
        tx,
        'DATA',
        oversize ? Buffer.alloc(0) : data,
        oversize ? Buffer.alloc(0) : body.raw,
        {
          oversize,
          size: body.size,
        },
      );
      await this.#finishMessage(['DATA_END'], text, message);
    });
  }

  async bdat(text: string, arg: string): Promise<void> {
    const m = /^(\d{1,15})(?: +(LAST))?$/i.exec(arg.trim());
    if (m === null) {
      // The chunk size is unknown, so the stream cannot be resynchronised: say so and go on.
      await this.#session.respond(['BDAT'], text, [this.#session.fmt(501, '5.5.4', 'Syntax: BDAT <size> [LAST]')]);
      return;
    }
    const size = Number(m[1]);
    const last = m[2] !== undefined;
    const events = last ? ['BDAT_LAST', 'BDAT'] : ['BDAT'];
    const tx = this.current;
    // RFC 3030 §2: the chunk is read even when it is going to be refused.
    const room = tx === null ? 0 : Math.max(0, this.#session.sizeLimit() - tx.chunkBytes);
    const chunk = await this.#in.readExact(size, room);
    if (chunk === null) return;
    const fail = (code: number, enhanced: string, message: string): Promise<Answer> =>
      this.#session.respond(events, text, [this.#session.fmt(code, enhanced, message)]);
    if (!this.#session.offers('CHUNKING')) return void (await fail(502, '5.5.1', 'BDAT without CHUNKING advertised'));
    if (tx === null) return void (await fail(503, '5.5.1', 'Need MAIL command'));
    if (tx.rcptTo.length === 0) return void (await fail(554, '5.5.1', 'No valid recipients'));
    if (tx.bdatFailed) return void (await fail(503, '5.5.1', 'Previous BDAT failed, send RSET'));
    tx.chunks ??= [];
    tx.chunkSizes.push(size);
    tx.chunkBytes += size;
    const oversize = !chunk.kept || tx.chunkBytes > this.#session.sizeLimit();
    if (!oversize) tx.chunks.push(chunk.bytes);
    if (!last) {
      if (oversize) {
        tx.bdatFailed = true;
        tx.chunks = [];
        return void (await fail(552, '5.3.4', 'Message size exceeds fixed maximum message size'));
      }
      await this.#session.respond(
        events,
        text,
        [this.#session.fmt(250, '2.0.0', `${size} octets received`)],
        (code) => {
          if (!isPositive(code)) tx.bdatFailed = true;
        },
      );
      return;
    }
    const data = oversize ? Buffer.alloc(0) : Buffer.concat(tx.chunks);
    const message = this.#message(tx, 'BDAT', data, data, { oversize, size: tx.chunkBytes });
    await this.#finishMessage(events, text, message);
  }

  #message(
    tx: Transaction,
    via: 'DATA' | 'BDAT',
    data: Buffer,
    raw: Buffer,
    extra: { oversize: boolean; size: number },
  ): MessageRecord {
    return {
      session: this.#session.record.id,
      mailFrom: tx.mailFrom,
      mailParams: tx.mailParams,
      rcptTo: [...tx.rcptTo],
      rcptParams: [...tx.rcptParams],
      refusedRcptTo: [...tx.refusedRcptTo],
      data,
      raw,
      via,
      chunks: [...tx.chunkSizes],
      ...bodyFacts(data),
      oversize: extra.oversize,
      size: extra.size,
      tls: this.#session.record.tls,
      authUser: this.#session.record.authUser,
      queueId: this.#host.nextQueueId(),
      reply: null,
      accepted: false,
    };
  }

  /**
   * Record a complete message, then answer its end. Recorded first, so that a test can see
   * what the server got even when the script drops the connection instead of answering.
   */
  async #finishMessage(events: readonly string[], text: string, message: MessageRecord): Promise<void> {
    if (this.#settings.record) this.#session.record.messages.push(message);
    this.#host.message(message);
    // The transaction ends with the final reply whatever it says (RFC 5321 §4.1.1.4).
    this.current = null;
    const reply = message.oversize
      ? this.#session.fmt(552, '5.3.4', 'Message size exceeds fixed maximum message size')
      : this.#session.fmt(250, '2.0.0', `OK: queued as ${message.queueId}`);
    if (this.#settings.lmtp) return this.#lmtpReplies(events, message, reply);
    const answer = await this.#session.respond(events, text, [reply]);
    message.reply = answer.sent;
    message.accepted = answer.sent !== null && isPositive(answer.code);
  }

  /**
   * LMTP (RFC 2033 §4.2): one reply per accepted recipient, in RCPT order. Each is the event
   * `LMTP_RCPT` (matched against the recipient address) as well as the message's end event, so a
   * script can refuse one recipient (`{ on: 'LMTP_RCPT', match: /full@/, reply: '552 5.2.2 Over quota' }`).
   */
  async #lmtpReplies(events: readonly string[], message: MessageRecord, reply: string): Promise<void> {
    message.recipientReplies = [];
    for (const recipient of message.rcptTo) {
      const answer = await this.#session.respond(['LMTP_RCPT', ...events], recipient, [reply]);
      const accepted = answer.sent !== null && isPositive(answer.code);
      message.recipientReplies.push({ recipient, reply: answer.sent, accepted });
      if (answer.sent === null) break;
    }
    message.reply = message.recipientReplies[0]?.reply ?? null;
    message.accepted = message.recipientReplies.some((r) => r.accepted);
  }
}
