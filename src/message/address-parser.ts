/**
 * The RFC 5322 §3.4 address grammar: a recursive-descent parser over one string, with the UTF-8
 * extension of RFC 6532 (non-ASCII allowed in atoms, quoted strings and domains) and RFC 2047
 * encoded-words decoded in display names. Internal: the public functions are in `address.ts`
 * (parse, format) and `address-check.ts` (RFC 5321 mailbox and domain checks).
 *
 * Positions in errors are 0-based offsets into the input string, in UTF-16 code units (JS
 * string indices).
 */
import { assertNoLineBreaks, ErrorCodes, findLineBreak, InvalidArgumentError } from '../errors.js';
import { Address, type AddrSpec } from './address-value.js';
import { decodeWords } from './mime/encodings.js';

export { assertString } from './address-check.js';

/** One mailbox: an optional display name and the address `local@domain`. */
export interface Mailbox {
  /** The display name, decoded (RFC 2047 encoded-words are decoded), or null when there is none. */
  name: string | null;
  /**
   * `local@domain`. The domain is kept as given (Unicode allowed, case kept); the local part is
   * kept as given when it is a dot-atom, otherwise written as a minimal quoted-string
   * (`"john doe"@example.com`; `"john"@x` becomes `john@x`, which is the same mailbox).
   */
  address: string;
}

/** A named group of mailboxes (RFC 5322 §3.4 `group`), e.g. `Team: a@x.example, b@y.example;`. */
export interface Group<M extends Mailbox = Mailbox> {
  group: string;
  members: M[];
}

/** One element of an address list; the parser gives `AddressEntry<Address>`. */
export type AddressEntry<M extends Mailbox = Mailbox> = M | Group<M>;

/** RFC 5322 §3.2.3 atext specials (besides letters and digits). */
const ATEXT_SPECIALS = "!#$%&'*+-/=?^_`{|}~";
/** A whole RFC 2047 encoded-word (§2): `=?charset?B|Q?text?=`. */
const ENCODED_WORD = /^=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=$/;

function isAtext(code: number): boolean {
  if (code >= 0x80) {
    // RFC 6532 UTF8-non-ascii; C1 controls are control characters, not text.
    return code > 0x9f;
  }
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    ATEXT_SPECIALS.includes(String.fromCharCode(code))
  );
}

function isWsp(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** True when `text` is an RFC 5322 dot-atom-text (RFC 6532 atext). */
function isDotAtomText(text: string): boolean {
  if (text.length === 0) return false;
  for (const atom of text.split('.')) {
    if (atom.length === 0) return false;
    for (let i = 0; i < atom.length; i++) if (!isAtext(atom.charCodeAt(i))) return false;
  }
  return true;
}

/** Quotes `text` as an RFC 5322 quoted-string, escaping only `"` and `\`. */
export function quoteString(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`;
}

function describe(s: string, pos: number): string {
  if (pos >= s.length) return 'end of input';
  const cp = s.codePointAt(pos) ?? 0;
  return JSON.stringify(String.fromCodePoint(cp));
}

interface PhraseToken {
  kind: 'atom' | 'quoted' | 'dot';
  text: string;
  /** Whitespace or a comment separated this token from the previous one. */
  spaced: boolean;
  pos: number;
}

/**
 * Recursive-descent parser over one string. `strict` disables CFWS (comments and folding
 * white space): RFC 5321 paths allow neither.
 */
export class Parser {
  readonly #s: string;
  readonly #strict: boolean;
  #pos = 0;

  constructor(input: string, strict = false) {
    this.#s = input;
    this.#strict = strict;
    // Reject line breaks and NUL up front: a parsed value must never carry them into a header.
    assertNoLineBreaks(input, 'address');
    const lone = /\p{Cs}/u.exec(input);
    if (lone) this.fail('lone UTF-16 surrogate (not valid Unicode)', lone.index);
  }

  get pos(): number {
    return this.#pos;
  }

  set pos(p: number) {
    this.#pos = p;
  }

  atEnd(): boolean {
    return this.#pos >= this.#s.length;
  }

  peek(): string {
    return this.#s[this.#pos] ?? '';
  }

  fail(message: string, pos: number = this.#pos): never {
    throw new InvalidArgumentError(`Invalid address: ${message} at position ${pos}`, {
      code: ErrorCodes.INVALID_ADDRESS,
      field: 'address',
      position: pos,
    });
  }

  unexpected(expected: string): never {
    this.fail(`expected ${expected}, found ${describe(this.#s, this.#pos)}`);
  }

  /** Skips RFC 5322 CFWS; returns true when anything was skipped. */
  skipCfws(): boolean {
    if (this.#strict) return false;
    const start = this.#pos;
    for (;;) {
      const c = this.#s.charCodeAt(this.#pos);
      if (isWsp(c)) this.#pos++;
      else if (c === 0x28 /* ( */) this.#comment();
      else break;
    }
    return this.#pos > start;
  }

  /** RFC 5322 §3.2.2 comment, nesting allowed. Comments carry no meaning and are dropped. */
  #comment(): void {
    const start = this.#pos;
    let depth = 0;
    while (this.#pos < this.#s.length) {
      const c = this.#s.charCodeAt(this.#pos);
      if (c === 0x5c /* \ */) {
        this.#pos += 2;
        continue;
      }
      if (c === 0x28) depth++;
      else if (c === 0x29 /* ) */) {
        depth--;
        if (depth === 0) {
          this.#pos++;
          return;
        }
      } else if (c < 0x20 && c !== 0x09) {
        this.fail('control character in a comment');
      }
      this.#pos++;
    }
    this.fail('unterminated comment (missing ")")', start);
  }

  /** RFC 5322 §3.2.4 quoted-string; returns its content with quoted-pairs resolved. */
  quotedString(): string {
    const start = this.#pos;
    this.#pos++; // opening quote
    let out = '';
    while (this.#pos < this.#s.length) {
      const c = this.#s.charCodeAt(this.#pos);
      if (c === 0x22 /* " */) {
        this.#pos++;
        return out;
      }
      if (c === 0x5c /* \ */) {
        const next = this.#s.charCodeAt(this.#pos + 1);
        if (Number.isNaN(next)) break;
        if (next < 0x20 && next !== 0x09) this.fail('control character after "\\" in a quoted string', this.#pos + 1);
        if (next === 0x7f) this.fail('control character after "\\" in a quoted string', this.#pos + 1);
        out += this.#s[this.#pos + 1];
        this.#pos += 2;
        continue;
      }
      if ((c < 0x20 && c !== 0x09) || c === 0x7f || (c >= 0x80 && c <= 0x9f)) {
        this.fail('control character in a quoted string');
      }
      out += this.#s[this.#pos];
      this.#pos++;
    }
    this.fail("unterminated quoted string (missing closing '\"')", start);
  }

  /** A run of atext (possibly empty). */
  atom(): string {
    const start = this.#pos;
    while (this.#pos < this.#s.length && isAtext(this.#s.charCodeAt(this.#pos))) this.#pos++;
    return this.#s.slice(start, this.#pos);
  }

  /** RFC 5322 dot-atom-text: atoms joined by single dots, no dot at either end. */
  dotAtom(what: string): string {
    const start = this.#pos;
    for (;;) {
      const atom = this.atom();
      if (atom.length === 0) {
        if (this.peek() === '.') {
          this.fail(
            this.#pos === start ? `${what} must not start with a dot` : `${what} must not contain two dots in a row`,
          );
        }
        if (this.#pos === start) this.unexpected(what);
        this.fail(`${what} must not end with a dot`, this.#pos - 1);
      }
      if (this.peek() !== '.') return this.#s.slice(start, this.#pos);
      this.#pos++;
    }
  }

  /** RFC 5322 §3.2.5 phrase, with obs-phrase dots (`John Q. Public`). */
  phrase(): PhraseToken[] {
    const tokens: PhraseToken[] = [];
    for (;;) {
      const spaced = this.skipCfws() && tokens.length > 0;
      const pos = this.#pos;
      const c = this.#s.charCodeAt(pos);
      if (c === 0x22) tokens.push({ kind: 'quoted', text: this.quotedString(), spaced, pos });
      else if (isAtext(c)) tokens.push({ kind: 'atom', text: this.atom(), spaced, pos });
      else if (c === 0x2e /* . */ && tokens.length > 0) {
        this.#pos++;
        tokens.push({ kind: 'dot', text: '.', spaced, pos });
      } else return tokens;
    }
  }

  /** RFC 5322 §3.4.1 addr-spec (no obs-local-part, no obs-domain). */
  addrSpec(): AddrSpec {
    this.skipCfws();
    let local: string;
    let localContent: string;
    let quoted = false;
    if (this.peek() === '"') {
      localContent = this.quotedString();
      quoted = true;
      // Canonical form: quote only when the content is not a dot-atom (RFC 5321 §4.1.2 SHOULD).
      local = isDotAtomText(localContent) ? localContent : quoteString(localContent);
    } else {
      if (this.peek() === '@') this.fail('missing local part before "@"');
      local = this.dotAtom('local part');
      localContent = local;
    }
    this.skipCfws();
    if (this.peek() !== '@') this.unexpected('"@"');
    this.#pos++;
    this.skipCfws();
    const domainPos = this.#pos;
    let domain: string;
    if (this.peek() === '[') domain = this.#domainLiteral();
    else if (this.peek() === '@') this.fail('unexpected second "@"');
    else domain = this.dotAtom('domain');
    this.skipCfws();
    return { local, localContent, quoted, domain, domainPos };
  }

  /** RFC 5322 §3.4.1 domain-literal; whitespace inside is refused rather than guessed at. */
  #domainLiteral(): string {
    const start = this.#pos;
    this.#pos++;
    while (this.#pos < this.#s.length) {
      const c = this.#s.charCodeAt(this.#pos);
      if (c === 0x5d /* ] */) {
        this.#pos++;
        return this.#s.slice(start, this.#pos);
      }
      if (c === 0x5b || c === 0x5c || c <= 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f)) {
        this.fail(`${describe(this.#s, this.#pos)} is not allowed in a domain literal`);
      }
      this.#pos++;
    }
    this.fail('unterminated domain literal (missing "]")', start);
  }

  /** RFC 5322 §3.4 angle-addr (no obs-route). */
  angleAddr(): AddrSpec {
    this.#pos++; // <
    this.skipCfws();
    if (this.peek() === '>') this.fail('empty address "<>"');
    if (this.peek() === '@') this.fail('source routes ("<@host:...>") are not supported');
    const spec = this.addrSpec();
    if (this.peek() !== '>') this.unexpected('">"');
    this.#pos++;
    this.skipCfws();
    return spec;
  }

  /** A mailbox, or a group when `allowGroup`. Leaves the position after trailing CFWS. */
  entry(allowGroup: boolean): AddressEntry<Address> {
    this.skipCfws();
    const start = this.#pos;
    if (this.peek() === '<') return new Address(null, this.angleAddr());
    const tokens = this.phrase();
    const next = this.peek();
    if (tokens.length > 0 && next === '<') {
      const name = this.#displayName(tokens);
      return new Address(name, this.angleAddr());
    }
    if (tokens.length > 0 && next === ':') {
      if (!allowGroup) this.fail('a group cannot be nested inside a group');
      return this.#group(this.#displayName(tokens) ?? '');
    }
    // Neither "name <addr>" nor "name:": it must be a bare addr-spec; reparse from the start.
    this.#pos = start;
    return new Address(null, this.addrSpec());
  }

  #group(name: string): Group<Address> {
    this.#pos++; // :
    const members: Address[] = [];
    for (;;) {
      this.skipCfws();
      if (this.peek() === ';') break;
      if (this.atEnd()) this.fail('group not closed with ";"');
      // obs-group-list: empty elements between commas are allowed and skipped.
      if (this.peek() === ',') {
        this.#pos++;
        continue;
      }
      members.push(this.entry(false) as Address);
      if (this.peek() === ',') this.#pos++;
      else if (this.atEnd()) this.fail('group not closed with ";"');
      else if (this.peek() !== ';') this.unexpected('"," or ";"');
    }
    this.#pos++; // ;
    this.skipCfws();
    return { group: name, members };
  }

  /**
   * Joins phrase tokens into a display name: one space where white space or a comment stood,
   * encoded-words decoded, and white space between two adjacent encoded-words dropped
   * (RFC 2047 §6.2). Encoded-words inside quoted strings are not decoded (RFC 2047 §5 (3)).
   */
  #displayName(tokens: readonly PhraseToken[]): string | null {
    let name = '';
    for (let i = 0; i < tokens.length; ) {
      const t = tokens[i] as PhraseToken;
      if (t.spaced) name += ' ';
      if (t.kind !== 'atom' || !ENCODED_WORD.test(t.text)) {
        name += t.text;
        i++;
        continue;
      }
      // A run of adjacent encoded-words is decoded in one call: decodeWords drops the white space
      // between them and joins bytes of one character split across two words.
      const run: string[] = [];
      while (i < tokens.length && tokens[i]!.kind === 'atom' && ENCODED_WORD.test(tokens[i]!.text)) {
        run.push(tokens[i]!.text);
        i++;
      }
      const text = decodeWords(run.join(' '));
      if (findLineBreak(text) !== null)
        this.fail('display name decodes to CR, LF or NUL (or VT, FF, U+0085, U+2028, U+2029)', t.pos);
      name += text;
    }
    // `"" <a@b>` has no name to show: normalise it to null like a bare address.
    return name.length === 0 ? null : name;
  }
}
