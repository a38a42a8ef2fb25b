/**
 * EHLO reply → what the server offers (RFC 5321 §4.1.1.1, §2.2.2).
 * Unknown keywords are kept, so callers and `probe` can see everything the server said.
 */
import type { Reply } from './reply.js';

/** What a server advertised in its EHLO reply (or assumed from a HELO fallback). */
export interface ServerInfo {
  /** The domain the server named on the first line. */
  readonly serverName: string;
  /** False when the server only understood HELO: no extension is available. */
  readonly esmtp: boolean;
  /** Every keyword in upper case, with its parameters as sent. */
  readonly keywords: ReadonlyMap<string, readonly string[]>;
  /** RFC 1870 SIZE: the limit in octets, 0 for "no fixed limit", null when SIZE is not advertised. */
  readonly size: number | null;
  /** SASL mechanisms in upper case (RFC 4954), including the old `AUTH=` form. */
  readonly authMechanisms: readonly string[];
  readonly pipelining: boolean;
  readonly eightBitMime: boolean;
  readonly smtpUtf8: boolean;
  readonly chunking: boolean;
  readonly binaryMime: boolean;
  readonly dsn: boolean;
  readonly enhancedStatusCodes: boolean;
  readonly startTls: boolean;
  readonly requireTls: boolean;
}

/** Parses the reply to EHLO. Lines that do not start with a keyword are ignored, not fatal. */
export function parseEhlo(reply: Reply): ServerInfo {
  const [first = '', ...rest] = reply.lines;
  const keywords = new Map<string, string[]>();
  const auth = new Set<string>();
  for (const line of rest) {
    const words = line.trim().split(/\s+/);
    const head = words.shift();
    if (!head) continue;
    // Some servers (old Outlook) also advertise `AUTH=LOGIN PLAIN`.
    const eq = head.indexOf('=');
    const keyword = (eq === -1 ? head : head.slice(0, eq)).toUpperCase();
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(keyword)) continue;
    const args = eq === -1 ? words : [head.slice(eq + 1), ...words].filter((w) => w !== '');
    if (keyword === 'AUTH') for (const mech of args) auth.add(mech.toUpperCase());
    if (!keywords.has(keyword) || eq === -1) keywords.set(keyword, args);
  }
  const sizeArg = keywords.get('SIZE')?.[0];
  const sizeValue = sizeArg === undefined ? 0 : Number(sizeArg);
  return {
    serverName: first.trim().split(/\s+/)[0] ?? '',
    esmtp: true,
    keywords,
    size: keywords.has('SIZE') ? (Number.isSafeInteger(sizeValue) && sizeValue >= 0 ? sizeValue : 0) : null,
    authMechanisms: [...auth],
    pipelining: keywords.has('PIPELINING'),
    eightBitMime: keywords.has('8BITMIME'),
    smtpUtf8: keywords.has('SMTPUTF8'),
    chunking: keywords.has('CHUNKING'),
    binaryMime: keywords.has('BINARYMIME'),
    dsn: keywords.has('DSN'),
    enhancedStatusCodes: keywords.has('ENHANCEDSTATUSCODES'),
    startTls: keywords.has('STARTTLS'),
    requireTls: keywords.has('REQUIRETLS'),
  };
}

/** The capabilities of a server that answered HELO only (RFC 5321 §3.2): plain SMTP. */
export function heloInfo(reply: Reply): ServerInfo {
  return { ...parseEhlo({ ...reply, lines: reply.lines.slice(0, 1) }), esmtp: false };
}
