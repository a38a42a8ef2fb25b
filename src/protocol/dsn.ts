/**
 * Delivery status notification requests (RFC 3461): the one owner of what a `dsn` option may hold, for
 * `SmtpConnection.sendMail`, `sendMessage`, `sendRaw` and outbox jobs alike. Pure.
 */
import { InvalidArgumentError } from '../errors.js';
import { xtext } from './commands.js';

export interface DsnOptions {
  /** RET=: return the full message or only its headers in a failure notice. */
  ret?: 'FULL' | 'HDRS';
  /** ENVID=: the sender's id for this transaction, echoed in notices (printable ASCII, ≤ 100 octets as xtext). */
  envid?: string;
  /** NOTIFY= on every RCPT: `['NEVER']`, or any of SUCCESS, FAILURE, DELAY. */
  notify?: readonly ('NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY')[];
  /** Send ORCPT=rfc822;<recipient> with each RCPT. */
  orcpt?: boolean;
  /**
   * When the server does not offer DSN: `'refuse'` (default) fails the send before a byte is written
   * (`ERR_SMTP_CAPABILITY`); `'send-without'` sends the message without the DSN parameters.
   */
  ifUnsupported?: 'refuse' | 'send-without';
}

const KEYS = new Set(['ret', 'envid', 'notify', 'orcpt', 'ifUnsupported']);
const NOTIFY = new Set(['NEVER', 'SUCCESS', 'FAILURE', 'DELAY']);
/** RFC 3461 §4.4: ENVID is at most 100 characters (as xtext). */
const MAX_ENVID = 100;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * Checks a caller's `dsn` value.
 * @param field the option's name in errors (`dsn`, `envelope.dsn`).
 * @returns the value itself (undefined stays undefined).
 * @throws InvalidArgumentError naming the field at fault.
 */
export function checkDsn(value: unknown, field = 'dsn'): DsnOptions | undefined {
  if (value === undefined) return undefined;
  const bad = (what: string, at = field): InvalidArgumentError =>
    new InvalidArgumentError(`${at} ${what}`, { field: at });
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw bad('must be an object { ret?, envid?, notify?, orcpt?, ifUnsupported? }');
  const dsn = value as Record<string, unknown>;
  for (const key of Object.keys(dsn)) if (!KEYS.has(key)) throw bad(`has an unknown key ${JSON.stringify(key)}`);
  if (dsn.ret !== undefined && dsn.ret !== 'FULL' && dsn.ret !== 'HDRS')
    throw bad("must be 'FULL' or 'HDRS'", `${field}.ret`);
  if (dsn.envid !== undefined) {
    if (typeof dsn.envid !== 'string' || !PRINTABLE_ASCII.test(dsn.envid))
      throw bad('must be printable US-ASCII text (RFC 3461 §4.4)', `${field}.envid`);
    if (xtext(dsn.envid).length > MAX_ENVID)
      throw bad(`is longer than ${MAX_ENVID} characters as xtext`, `${field}.envid`);
  }
  if (dsn.notify !== undefined) {
    const n = dsn.notify;
    if (!Array.isArray(n) || n.length === 0 || !n.every((x) => typeof x === 'string' && NOTIFY.has(x)))
      throw bad("must be a non-empty list of 'NEVER', 'SUCCESS', 'FAILURE', 'DELAY'", `${field}.notify`);
    if (new Set(n).size !== n.length) throw bad('names a value twice', `${field}.notify`);
    if (n.includes('NEVER') && n.length > 1) throw bad("'NEVER' cannot be combined (RFC 3461 §4.1)", `${field}.notify`);
  }
  if (dsn.orcpt !== undefined && typeof dsn.orcpt !== 'boolean') throw bad('must be a boolean', `${field}.orcpt`);
  if (dsn.ifUnsupported !== undefined && dsn.ifUnsupported !== 'refuse' && dsn.ifUnsupported !== 'send-without')
    throw bad("must be 'refuse' or 'send-without'", `${field}.ifUnsupported`);
  return value as DsnOptions;
}
