/**
 * Text from the network made safe to print: a peer's bytes never reach the terminal raw (no escape
 * sequence, no cursor move, no bidirectional override can ride in a header or an address). A minimal
 * local escaper for `sink`; the CLI-wide one belongs to the terminal-output work (issue 23).
 */

/**
 * C0 controls, DEL, C1 controls, and the invisible or direction-changing format characters (zero
 * widths, bidi embeddings, overrides and isolates, the BOM), plus the backslash that introduces our escapes.
 */
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

function escapeChar(c: string): string {
  if (c === '\\') return '\\\\';
  if (c === '\r') return '\\r';
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** `text` with every unsafe character escaped, cut to `max` characters (then ending in `…`). */
export function escapeText(text: string, max = Infinity): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(UNSAFE, escapeChar);
}

/**
 * One JSON line made safe for a terminal: JSON.stringify already escapes C0 controls; this also
 * escapes DEL, C1 and the format characters above as `\uXXXX` (still the same JSON value).
 */
export function terminalSafeJson(line: string): string {
  return line.replace(/[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
