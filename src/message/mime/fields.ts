/**
 * Message-level header fields written from options rather than given raw: priority (the three
 * fields mail clients read) and the mailing-list fields of RFC 2369, RFC 2919 and RFC 8058
 * (one-click unsubscribe). Each function checks its input and returns `[name, folded field]`
 * pairs, so the builder can refuse a custom header that would duplicate one.
 * Pure module: no sockets.
 */
import { ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { findUnknownKey } from '../../options.js';
import { formatPhrase, parseAddress } from '../address.js';
import type { ListHeadersInput, ListTarget, MessagePriority } from '../types.js';
import { encodeWords, foldHeader } from './encodings.js';
import { assertHeaderLines, assertNoInjection } from './headers.js';

/** A header field written by an option: its name, and the folded CRLF-terminated field. */
export type OptionField = readonly [name: string, folded: string];

/**
 * What each priority writes. `X-Priority` (1 highest … 5 lowest, with the comment Outlook and
 * Thunderbird write) is read by Thunderbird, Apple Mail and most webmail; `Importance` (RFC 2156)
 * and `X-MSMail-Priority` by Outlook and Exchange. nodemailer writes the same values.
 */
const PRIORITY_VALUES: Readonly<Record<MessagePriority, readonly [string, string, string]>> = {
  high: ['1 (Highest)', 'High', 'High'],
  normal: ['3 (Normal)', 'Normal', 'Normal'],
  low: ['5 (Lowest)', 'Low', 'Low'],
};

/** The priority fields; none when `priority` is undefined. */
export function priorityFields(priority: unknown): OptionField[] {
  if (priority === undefined || priority === null) return [];
  if (typeof priority !== 'string' || !Object.hasOwn(PRIORITY_VALUES, priority)) {
    throw new InvalidArgumentError("priority must be 'high', 'normal' or 'low'", {
      field: 'priority',
      code: ErrorCodes.INVALID_HEADER,
    });
  }
  const [xPriority, msMail, importance] = PRIORITY_VALUES[priority as MessagePriority];
  return [
    ['X-Priority', foldHeader('X-Priority', xPriority)],
    ['X-MSMail-Priority', foldHeader('X-MSMail-Priority', msMail)],
    ['Importance', foldHeader('Importance', importance)],
  ];
}

function listError(field: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(`${field}: ${message}`, { field, code: ErrorCodes.INVALID_HEADER });
}

/** Refuses a key not in `known`, naming the nearest one (options.ts owns the wording). */
function assertListKeys(value: object, known: readonly string[], field: string): void {
  const unknown = findUnknownKey(value, known, field);
  // An unknown key is one fault class wherever it is: ERR_SMTP_INVALID_ARGUMENT.
  if (unknown !== null) throw new InvalidArgumentError(unknown.message, { field });
}

/** A URI scheme (RFC 3986 §3.1) at the start: the target is a URL, else an email address. */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * One RFC 2369 target as `<uri>`: a URL as given (printable ASCII without space or angle brackets:
 * the field is read between `<` and `>`), or an email address as `mailto:` (an optional `?subject=…`
 * query kept).
 */
function listUri(target: unknown, field: string): string {
  if (typeof target !== 'string' || target.trim() === '') throw listError(field, 'must be a URL or an email address');
  assertNoInjection(target, field);
  const value = target.trim();
  if (SCHEME.test(value)) {
    if (!/^[\x21-\x7e]+$/.test(value) || /[<>]/.test(value)) {
      throw listError(field, 'a URL must be printable ASCII without spaces or angle brackets (RFC 2369 §2)');
    }
    return `<${value}>`;
  }
  const q = value.indexOf('?');
  const addressText = q < 0 ? value : value.slice(0, q);
  const query = q < 0 ? '' : value.slice(q);
  let address: string;
  try {
    address = parseAddress(addressText).wire;
  } catch (err) {
    throw listError(
      field,
      `${JSON.stringify(addressText)} is neither a URL nor an email address (${(err as Error).message})`,
    );
  }
  if (!/^[\x21-\x7e]*$/.test(query) || /[<>]/.test(query))
    throw listError(field, 'the mailto query must be printable ASCII');
  // RFC 6068: a non-ASCII local part is percent-encoded in a mailto URI.
  return `<mailto:${encodeURI(address).replace(/%40/g, '@')}${query}>`;
}

/** A comment after a target (nodemailer's `{ url, comment }`): `(text)`, RFC 2047 words when not ASCII. */
function listComment(comment: unknown, field: string): string {
  if (comment === undefined || comment === null || comment === '') return '';
  if (typeof comment !== 'string') throw listError(field, 'comment must be a string');
  assertNoInjection(comment, field);
  // ctext specials are quoted-pairs, or a `)` would end the comment early (RFC 5322 §3.2.2).
  const text = /^[\x20-\x7e]*$/.test(comment) ? comment.replace(/[()\\]/g, '\\$&') : encodeWords(comment);
  return ` (${text})`;
}

/** One target: a URL or address string, or nodemailer's `{ url, comment }`. */
function target(value: unknown, field: string): string {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const t = value as { url?: unknown; comment?: unknown };
    assertListKeys(t, ['url', 'comment'], field);
    return listUri(t.url, `${field}.url`) + listComment(t.comment, `${field}.comment`);
  }
  return listUri(value, field);
}

function targets(value: unknown, field: string): string[] {
  const list: readonly unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw listError(field, 'must name at least one URL or address');
  return list.map((t, i) => target(t, Array.isArray(value) ? `${field}[${i}]` : field));
}

function field(name: string, value: string, label: string): OptionField {
  const folded = foldHeader(name, value, { structured: true });
  assertHeaderLines(folded, label);
  return [name, folded];
}

/** RFC 2919 §2 list-id: a dot-atom with at least one dot (list-label "." namespace). */
const LIST_ID = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)+$/;

const LIST_FIELDS = [
  ['help', 'List-Help'],
  ['subscribe', 'List-Subscribe'],
  ['post', 'List-Post'],
  ['owner', 'List-Owner'],
  ['archive', 'List-Archive'],
] as const;
const LIST_KEYS: readonly string[] = ['id', 'unsubscribe', ...LIST_FIELDS.map(([key]) => key)];

/**
 * The `List-*` fields of `list` (RFC 2369, RFC 2919). `unsubscribe` as `{ url, mail, oneClick }`
 * writes `List-Unsubscribe: <https://…>, <mailto:…>` and, with `oneClick: true`,
 * `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058 §3.1: only with an https URL,
 * which must then unsubscribe on a POST). Every target may also be nodemailer's `{ url, comment }`
 * and `id` its `{ url, comment }`. Unknown keys are refused.
 */
export function listFields(list: unknown): OptionField[] {
  if (list === undefined || list === null) return [];
  if (typeof list !== 'object' || Array.isArray(list)) throw listError('list', 'must be an object');
  const input = list as ListHeadersInput;
  assertListKeys(input, LIST_KEYS, 'list');
  const out: OptionField[] = [];
  if (input.id !== undefined && input.id !== null) {
    // `{ id, name }`, or nodemailer's `{ url, comment }` for the same two things.
    const given = input.id as { id?: unknown; name?: unknown; url?: unknown; comment?: unknown } | string;
    if (typeof given === 'object' && given !== null) assertListKeys(given, ['id', 'name', 'url', 'comment'], 'list.id');
    const { id, name } =
      typeof given === 'string'
        ? { id: given, name: undefined }
        : { id: given.id ?? given.url, name: given.name ?? given.comment };
    if (typeof id !== 'string' || !LIST_ID.test(id)) {
      throw listError('list.id', 'must look like list-name.example.com (RFC 2919 §2)');
    }
    if (name !== undefined && name !== null && typeof name !== 'string')
      throw listError('list.id', 'name must be a string');
    const phrase = name === undefined || name === null || name === '' ? '' : `${formatPhrase(name, 'list.id.name')} `;
    out.push(field('List-Id', `${phrase}<${id}>`, 'list.id'));
  }
  const unsubscribe = input.unsubscribe;
  if (unsubscribe !== undefined && unsubscribe !== null) {
    const isTarget =
      typeof unsubscribe === 'object' && !Array.isArray(unsubscribe) && 'comment' in (unsubscribe as object);
    if (typeof unsubscribe === 'object' && !Array.isArray(unsubscribe) && !isTarget) {
      const u = unsubscribe as { url?: unknown; mail?: unknown; oneClick?: unknown };
      assertListKeys(u, ['url', 'mail', 'oneClick'], 'list.unsubscribe');
      const uris: string[] = [];
      if (u.url !== undefined && u.url !== null) uris.push(listUri(u.url, 'list.unsubscribe.url'));
      if (u.mail !== undefined && u.mail !== null) {
        uris.push(listUri(u.mail, 'list.unsubscribe.mail'));
      }
      if (uris.length === 0) throw listError('list.unsubscribe', 'give url, mail or both');
      out.push(field('List-Unsubscribe', uris.join(', '), 'list.unsubscribe'));
      if (u.oneClick !== undefined && typeof u.oneClick !== 'boolean') {
        throw listError('list.unsubscribe.oneClick', 'must be a boolean');
      }
      if (u.oneClick === true) {
        if (typeof u.url !== 'string' || !/^https:/i.test(u.url.trim())) {
          throw listError('list.unsubscribe.oneClick', 'needs an https url (RFC 8058 §3.1)');
        }
        out.push(['List-Unsubscribe-Post', foldHeader('List-Unsubscribe-Post', 'List-Unsubscribe=One-Click')]);
      }
    } else {
      out.push(field('List-Unsubscribe', targets(unsubscribe, 'list.unsubscribe').join(', '), 'list.unsubscribe'));
    }
  }
  for (const [key, name] of LIST_FIELDS) {
    const value = input[key] as ListTarget | undefined;
    if (value === undefined || value === null) continue;
    out.push(field(name, targets(value, `list.${key}`).join(', '), `list.${key}`));
  }
  return out;
}
