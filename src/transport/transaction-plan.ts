/**
 * Whether this server can take this message, decided before a byte of the transaction is written:
 * SMTPUTF8 (RFC 6531), 8BITMIME (RFC 6152), SIZE (RFC 1870), DSN (RFC 3461), DATA or BDAT
 * (RFC 3030), and the exact MAIL and RCPT lines. Pure: values in, values out.
 *
 * The plan trusts what the envelope declares (the handler's `prepare` decided it once). Only what is
 * undeclared is derived here: from an in-memory body directly, and for a stream by the body pump
 * while it streams (`watch`), failing before the final dot.
 */
import { isAscii } from 'node:buffer';
import type { Readable } from 'node:stream';
import { CapabilityError, ErrorCodes, InvalidArgumentError } from '../errors.js';
import { wirePath } from '../message/address.js';
import * as cmd from '../protocol/commands.js';
import { dataForm, isWireBody, toWireBody, type WireBody } from '../protocol/dot-stuff.js';
import { checkDsn, type DsnOptions } from '../protocol/dsn.js';
import type { ServerInfo } from '../protocol/extensions.js';

export type { DsnOptions } from '../protocol/dsn.js';

export interface Envelope {
  /** Reverse path; `''` for the null sender `<>`. */
  from: string;
  to: readonly string[];
  /** Message size in octets for SIZE=; computed for in-memory bodies when absent, counted while streaming otherwise. */
  size?: number;
  /** The body has 8-bit octets (BODY=8BITMIME); detected for in-memory bodies, and while streaming, when absent. */
  eightBit?: boolean;
  /**
   * Needs SMTPUTF8. Declared: `from` and `to` are taken as wire forms. Absent: each address is parsed
   * (address.ts) and sent in its wire form (an IDN domain as A-labels, which needs no SMTPUTF8).
   */
  smtpUtf8?: boolean;
  dsn?: DsnOptions;
  /** RFC 8689: MAIL carries REQUIRETLS; a server that does not offer it is refused before MAIL. */
  requireTls?: boolean;
}

/** In memory (a `WireBody` when `prepare` already checked it), or a stream. */
export type MessageBody = WireBody | Uint8Array | string | Readable | AsyncIterable<Uint8Array | string>;

/** What the body pump must check while streaming, because nobody could know it before. */
export interface StreamWatch {
  /** The server has no 8BITMIME and nothing declared the body 7-bit: an 8-bit octet fails the send. */
  refuseEightBit: boolean;
  /** The server's SIZE limit, when the size was not known before: exceeding it fails the send. */
  maxSize: number | null;
}

export interface TransactionPlan {
  envelope: Envelope;
  mailLine: string;
  rcptLines: string[];
  /** The whole body already encoded (DATA form, or BDAT form when `useBdat`), for in-memory bodies. */
  encoded: Buffer | null;
  /** Builder output sent as it is (DATA: only the final `.` line follows); instead of `encoded`. */
  ready: Buffer | null;
  useBdat: boolean;
  /** For a stream whose needs were not declared; null when nothing is left to check. */
  watch: StreamWatch | null;
}

/**
 * Plans one transaction against the server's capabilities.
 * @throws CapabilityError (`ERR_SMTP_SMTPUTF8_UNSUPPORTED`, `ERR_SMTP_8BITMIME_UNSUPPORTED`,
 *   `ERR_SMTP_SIZE_EXCEEDED`, `ERR_SMTP_CAPABILITY` for DSN), InvalidArgumentError (envelope, CR/LF in
 *   an address, `ERR_SMTP_BODY_LINE_TOO_LONG` for an in-memory body).
 */
export function planTransaction(
  envelope: Envelope,
  body: MessageBody,
  info: ServerInfo,
  options: { host: string; chunking: boolean },
): TransactionPlan {
  if (!envelope || typeof envelope.from !== 'string' || !Array.isArray(envelope.to)) {
    throw new InvalidArgumentError('envelope needs from (string) and to (string[])', { field: 'envelope' });
  }
  if (envelope.to.length === 0)
    throw new InvalidArgumentError('envelope.to must name at least one recipient', { field: 'envelope.to' });
  const { host } = options;
  // An in-memory body in wire form: its size as transmitted is then exact for SIZE=, and a bad line
  // fails before a byte is written.
  const wire = isWireBody(body)
    ? body
    : typeof body === 'string'
      ? toWireBody(Buffer.from(body, 'utf8'))
      : body instanceof Uint8Array
        ? toWireBody(body)
        : null;
  // Declared by `prepare` (the addresses were parsed there, once, and are in wire form). Undeclared
  // (a direct caller's text): address.ts gives each path's wire form and need.
  let smtpUtf8 = envelope.smtpUtf8;
  let fromPath = envelope.from;
  let toPaths = envelope.to;
  if (smtpUtf8 === undefined) {
    const from = wirePath(envelope.from);
    const to = envelope.to.map(wirePath);
    smtpUtf8 = from.smtpUtf8 || to.some((p) => p.smtpUtf8);
    fromPath = from.path;
    toPaths = to.map((p) => p.path);
  }
  if (smtpUtf8 && !info.smtpUtf8) {
    throw new CapabilityError(`${host} does not offer SMTPUTF8, needed for a non-ASCII address (RFC 6531)`, {
      code: ErrorCodes.SMTPUTF8_UNSUPPORTED,
    });
  }
  // Undeclared for a stream: unknown. With 8BITMIME offered, BODY=8BITMIME is declared anyway (it
  // is harmless for 7-bit content); without it, the pump refuses the first 8-bit octet.
  const eightBit = envelope.eightBit ?? (wire !== null ? !isAscii(wire.bytes) : undefined);
  if (eightBit === true && !info.eightBitMime && !smtpUtf8) throw eightBitRefused(host);
  const useBdat = options.chunking && info.chunking;
  let encoded: Buffer | null = null;
  let ready: Buffer | null = null;
  if (wire !== null && useBdat) encoded = wire.bytes;
  else if (wire !== null) ({ ready, stuffed: encoded } = dataForm(wire));
  const transmitted = wire?.bytes.length;
  const size = envelope.size ?? transmitted;
  if (size !== undefined && info.size && size > info.size) throw sizeExceeded(size, info.size);
  let dsn = checkDsn(envelope.dsn, 'envelope.dsn');
  if (dsn && !info.dsn) {
    if (dsn.ifUnsupported !== 'send-without')
      throw new CapabilityError(
        `${host} does not offer DSN (RFC 3461); set dsn.ifUnsupported: 'send-without' to send without it`,
        { code: ErrorCodes.CAPABILITY },
      );
    dsn = undefined;
  }
  if (envelope.requireTls && !info.requireTls)
    throw new CapabilityError(`${host} does not offer REQUIRETLS (RFC 8689)`, { code: ErrorCodes.REQUIRETLS });
  const mailParams: Record<string, string | number | true | undefined> = {
    SIZE: size !== undefined && info.size !== null ? size : undefined,
    BODY: (eightBit ?? true) && info.eightBitMime ? '8BITMIME' : undefined,
    SMTPUTF8: smtpUtf8 ? true : undefined,
    RET: dsn?.ret,
    ENVID: dsn?.envid === undefined ? undefined : cmd.xtext(dsn.envid),
    REQUIRETLS: envelope.requireTls ? true : undefined,
  };
  // Build (and so check) every line before a byte is written.
  const mailLine = cmd.mail(fromPath, mailParams);
  const rcptLines = toPaths.map((to) =>
    cmd.rcpt(to, {
      NOTIFY: dsn?.notify?.join(','),
      ORCPT: dsn?.orcpt ? `rfc822;${cmd.xtext(to)}` : undefined,
    }),
  );
  const refuseEightBit = eightBit === undefined && !info.eightBitMime && !smtpUtf8;
  const maxSize = size === undefined && info.size ? info.size : null;
  const watch = wire === null && (refuseEightBit || maxSize !== null) ? { refuseEightBit, maxSize } : null;
  return { envelope, mailLine, rcptLines, encoded, ready, useBdat, watch };
}

export function eightBitRefused(host: string): CapabilityError {
  return new CapabilityError(`${host} does not offer 8BITMIME and the body has 8-bit octets (encode it as 7bit)`, {
    code: ErrorCodes.EIGHTBIT_UNSUPPORTED,
  });
}

export function sizeExceeded(size: number, limit: number, streaming = false): CapabilityError {
  return new CapabilityError(
    streaming
      ? `message exceeds the server's SIZE limit of ${limit} octets (RFC 1870): stopped at ${size} octets, before the end of the message`
      : `message of ${size} octets exceeds the server's SIZE limit of ${limit} (RFC 1870)`,
    { code: ErrorCodes.SIZE_EXCEEDED },
  );
}
