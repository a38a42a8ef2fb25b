/**
 * The one escaper for text that came from a server (or any other untrusted peer) and is about to be
 * shown to a person: replies, greetings, capabilities, certificate names, error messages that quote
 * them. A terminal obeys control characters, so a hostile server could otherwise retitle the window
 * (OSC), clear the screen or move the cursor (CSI, also as the single C1 octet U+009B), ring the bell,
 * or forge a `PASS` line with a CR or LF; bidi controls reorder what is shown (CVE-2021-42574).
 *
 * Every such character becomes a readable escape: `\r`, `\n`, `\t`, `\0`, `\x1b` for C0 and DEL,
 * `\u009b` for C1, `\u202e` for the bidi and line-separator controls. Everything else, including
 * non-ASCII letters, is kept. Pure: values in, values out.
 */

/** C0, DEL, C1, the bidi embeddings/overrides/isolates and marks, and the Unicode line/paragraph separators. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** What JSON.stringify leaves raw of {@link UNSAFE}: everything but C0 (the line's own LF stays a line end). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\r': '\\r', '\n': '\\n', '\t': '\\t', '\0': '\\0' };

function escapeOne(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  const c = ch.charCodeAt(0);
  return c < 0x80 ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
}

/**
 * `text` with every control character a terminal would act on replaced by a readable escape.
 * Backslashes are kept as they are unless `backslash` is true, so that escaping twice changes
 * nothing (a report that was already escaped can be printed through it again). Evidence, which must
 * be unambiguous, escapes backslashes as `\\`.
 */
export function escapeTerminalText(text: string, options: { backslash?: boolean } = {}): string {
  const source = options.backslash === true ? text.replace(/\\/g, '\\\\') : text;
  return source.replace(UNSAFE, escapeOne);
}

/**
 * One JSON line made safe for a terminal: JSON.stringify already escapes C0 controls; this also escapes
 * DEL, C1 and the bidi and line-separator controls as `\uXXXX` (still the same JSON value).
 */
export function terminalSafeJson(line: string): string {
  return line.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** {@link escapeTerminalText} with backslashes escaped (unambiguous), cut to `max` characters first (then `…`). */
export function escapeClipped(text: string, max = Number.POSITIVE_INFINITY): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return escapeTerminalText(cut, { backslash: true });
}
