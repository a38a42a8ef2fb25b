/**
 * Header lines that repeat from message to message, written once and reused: an address field of one
 * mailbox or group (per address value: the handler's AddressCache hands out the same value for the same
 * text), the Subject (per text, a small map), the Date (per second). Each line is exactly what the
 * uncached path writes; only the repeated parse, fold and check go.
 */
import type { Address, AddressEntry } from '../address.js';
import { formatEntry } from '../address.js';
import { encodeUnstructured, foldHeader, MAX_LINE_LENGTH } from './encodings.js';
import { assertHeaderLines, formatDate } from './headers.js';

const STRUCTURED = { structured: true } as const;

/**
 * A folded address field (From, To, Cc, Reply-To), checked line by line. `shared`: the values come from
 * an AddressCache (handed out again for the same text, never changed), so a line per value is kept.
 */
export function addressHeader(name: string, entries: readonly AddressEntry<Address>[], shared: boolean): string {
  if (shared && entries.length === 1) {
    const entry = entries[0]!;
    let lines = byEntry.get(entry);
    if (lines === undefined) {
      lines = new Map();
      byEntry.set(entry, lines);
    }
    let line = lines.get(name);
    if (line === undefined) {
      line = writeAddressHeader(name, entries);
      lines.set(name, line);
    }
    return line;
  }
  return writeAddressHeader(name, entries);
}

/** Per shared address value, its line per field name; gone with the value. */
const byEntry = new WeakMap<AddressEntry<Address>, Map<string, string>>();

function writeAddressHeader(name: string, entries: readonly AddressEntry<Address>[]): string {
  const folded = foldHeader(name, entries.map((e) => formatEntry(e, true)).join(', '), STRUCTURED);
  assertHeaderLines(folded, name);
  return folded;
}

/** Subjects remembered: a bulk sender repeats a few; bounded in count and length. */
const SUBJECTS_MAX = 64;
const SUBJECT_MAX_TEXT = 512;
const subjects = new Map<string, string>();

/** The folded Subject line (RFC 2047 words where needed); the caller has checked it for CR/LF. */
export function subjectHeader(subject: string): string {
  const hit = subjects.get(subject);
  if (hit !== undefined) return hit;
  // Words sized so the first one fits after "Subject: " on a 78-character line.
  const line = foldHeader(
    'Subject',
    encodeUnstructured(subject, { encodeLongTokens: true, maxWordLength: MAX_LINE_LENGTH - 'Subject: '.length }),
  );
  if (subject.length <= SUBJECT_MAX_TEXT) {
    if (subjects.size >= SUBJECTS_MAX) subjects.delete(subjects.keys().next().value as string);
    subjects.set(subject, line);
  }
  return line;
}

let dateSecond = Number.NaN;
let dateLine = '';

/** The Date line; the same for every message of one second (formatDate writes whole seconds, UTC). */
export function dateHeader(date: Date): string {
  if (!(date instanceof Date)) return foldHeader('Date', formatDate(date));
  const second = Math.floor(date.getTime() / 1000);
  if (second === dateSecond) return dateLine;
  // An invalid Date (NaN) throws here, never cached.
  const line = foldHeader('Date', formatDate(date));
  dateSecond = second;
  dateLine = line;
  return line;
}
