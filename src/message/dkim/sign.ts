/**
 * DKIM signatures (RFC 6376 §5): options checked and the key loaded once ({@link DkimSigner}), then per
 * message the `DKIM-Signature` field built from the body hash and the signed header fields.
 *
 * Tag order is fixed (v a c d s t x i l h bh b) and the field is folded within 78 columns. The `b=` value
 * is the last tag, so the text that was hashed is exactly the emitted field with the `b=` value removed,
 * which is what a verifier reconstructs (RFC 6376 §3.7). Pure module (`node:crypto` only).
 */
import { createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { assertKnownKeys } from '../../options.js';
import { toAsciiDomain } from '../address.js';
import { isFieldName } from '../mime/headers.js';
import { type Canonicalization, canonicalizeHeader, type HeaderField } from './canonicalize.js';
import { type DkimAlgorithm, type DkimPrivateKeyInput, loadDkimKey } from './key.js';

/** `header/body` canonicalization pair (RFC 6376 §3.5 `c=`). */
export type DkimCanonicalization = 'relaxed/relaxed' | 'relaxed/simple' | 'simple/simple' | 'simple/relaxed';
const CANONICALIZATIONS: readonly DkimCanonicalization[] = [
  'relaxed/relaxed',
  'relaxed/simple',
  'simple/simple',
  'simple/relaxed',
];

/** One DKIM signature to add. The first three names are nodemailer's, on purpose. */
export interface DkimOptions {
  /** The signing domain, `d=` (an IDN is written in A-labels). */
  domainName: string;
  /** The selector, `s=`: the key is published at `<selector>._domainkey.<domainName>`. */
  keySelector: string;
  /** PEM (PKCS#8, PKCS#1 or SEC1), DER bytes (PKCS#8) or a KeyObject: RSA ≥ 1024 bits (2048 recommended) or Ed25519. */
  privateKey: DkimPrivateKeyInput;
  /** Default: from the key (`rsa-sha256` or `ed25519-sha256`); a mismatch throws. */
  algorithm?: DkimAlgorithm;
  /** Default `'relaxed/relaxed'`. */
  canonicalization?: DkimCanonicalization;
  /**
   * Header fields to sign when present (case-insensitive), in this order; must include From.
   * Default {@link DEFAULT_SIGNED_HEADERS} (RFC 6376 §5.4.1).
   */
  headerFields?: readonly string[];
  /**
   * Sign each present field of `headerFields` once more than it occurs, so a field added later (a second
   * From, a Subject) breaks the signature (RFC 6376 §8.15). `true` (default): every present field;
   * a list: those names, present or not; `false`: none.
   */
  oversign?: boolean | readonly string[];
  /** `x=`: the signature expires this many ms after signing (rounded up to whole seconds). Default none. */
  expiresIn?: number;
  /** `i=`: the agent or user identity, `[local]@domain` with domain = `domainName` or a subdomain of it. */
  identity?: string;
  /**
   * `l=`: declare the signed body length. Default false, and best left off: anyone can append content
   * (a new MIME part, a phishing link) after the signed length and the signature still verifies.
   */
  bodyLength?: boolean;
}

const DKIM_OPTION_KEYS: readonly (keyof DkimOptions)[] = [
  'domainName',
  'keySelector',
  'privateKey',
  'algorithm',
  'canonicalization',
  'headerFields',
  'oversign',
  'expiresIn',
  'identity',
  'bodyLength',
];

/** The spellings other DKIM libraries use (d=, s=, the key), pointed at ours. */
const DKIM_OPTION_HINTS: Readonly<Record<string, string>> = {
  domain: "did you mean 'domainName'?",
  selector: "did you mean 'keySelector'?",
  key: "did you mean 'privateKey'?",
  canonicalize: "did you mean 'canonicalization'?",
  headers: "did you mean 'headerFields'?",
};

/** RFC 6376 §5.4.1's list of fields worth signing; a field is signed only when the message has it. */
export const DEFAULT_SIGNED_HEADERS: readonly string[] = Object.freeze([
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-ID',
  'Content-Description',
  'Resent-Date',
  'Resent-From',
  'Resent-Sender',
  'Resent-To',
  'Resent-Cc',
  'Resent-Message-ID',
  'In-Reply-To',
  'References',
  'List-Id',
  'List-Help',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'List-Subscribe',
  'List-Post',
  'List-Owner',
  'List-Archive',
]);

/**
 * A field name in `h=`: RFC 5322's rule (mime/headers.ts owns it), and without `;`, which would end the `h=` tag
 * and start another (RFC 6376 §3.2 tag-list).
 */
const isDkimFieldName = (name: unknown): name is string => isFieldName(name) && !name.includes(';');
/** `x=` is at most 12 digits (RFC 6376 §3.5): an expiry at most 100 years ahead keeps it so. */
export const DKIM_MAX_EXPIRES_IN = 100 * 365 * 24 * 3600 * 1000;
/** A DNS name of LDH labels (selector, d=). */
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/i;
/** Folding width of the DKIM-Signature field (RFC 5322 §2.1.1 SHOULD). */
const LINE_WIDTH = 78;

/** A body hash for one body canonicalization: `bh=` and the canonical length (`l=`). */
export interface BodyHash {
  hash: Buffer;
  length: number;
}

function optionError(message: string, field: string): InvalidArgumentError {
  return new InvalidArgumentError(message, { field });
}

/**
 * The signing domain `d=` (also `smtpwire dkim-record --domain`): a DNS name, IDNs as A-labels, lower case,
 * without the root dot. @throws InvalidArgumentError naming `field`.
 */
export function dkimDomain(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw optionError(`${field} must be a domain name`, field);
  let domain: string;
  try {
    domain = toAsciiDomain(value.replace(/\.$/, '')).toLowerCase();
  } catch {
    throw optionError(`${field} is not a valid domain name`, field);
  }
  if (!DNS_NAME.test(domain)) throw optionError(`${field} is not a valid domain name`, field);
  return domain;
}

/** The selector `s=` (also `smtpwire dkim-record --selector`): DNS labels. @throws InvalidArgumentError naming `field`. */
export function dkimSelector(value: unknown, field: string): string {
  if (typeof value !== 'string' || !DNS_NAME.test(value))
    throw optionError(`${field} must be DNS labels (letters, digits, -, _)`, field);
  return value;
}

/**
 * Where a key's TXT record is published: `<selector>._domainkey.<domain>.`, both checked by the signer's own rules
 * (so a newline, space or `;` can never reach a zone file). @throws InvalidArgumentError naming `selector` or `domain`.
 */
export function dkimRecordName(selector: string, domain: string): string {
  return `${dkimSelector(selector, 'selector')}._domainkey.${dkimDomain(domain, 'domain')}.`;
}

/**
 * One configured signature: options validated and key loaded at construction, so a bad key or option
 * throws where it is configured, never during a send.
 */
export class DkimSigner {
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: DkimAlgorithm;
  readonly headerCanonicalization: Canonicalization;
  readonly bodyCanonicalization: Canonicalization;
  readonly #key: KeyObject;
  readonly #headerFields: readonly string[];
  readonly #oversign: 'present' | ReadonlySet<string>;
  readonly #expiresIn: number | undefined;
  readonly #identity: string | undefined;
  readonly #bodyLength: boolean;

  /**
   * @param field the option's name in error messages (e.g. `dkim[1]`).
   * @throws InvalidArgumentError naming the option (`ERR_SMTP_DKIM_KEY` for the key and algorithm).
   */
  constructor(options: DkimOptions, field = 'dkim') {
    if (options === null || typeof options !== 'object' || Array.isArray(options))
      throw optionError(`${field} must be an object`, field);
    assertKnownKeys(options, DKIM_OPTION_KEYS, field, DKIM_OPTION_HINTS);
    this.domain = dkimDomain(options.domainName, `${field}.domainName`);
    this.selector = dkimSelector(options.keySelector, `${field}.keySelector`);
    const domain = this.domain;

    const canonicalization = options.canonicalization ?? 'relaxed/relaxed';
    if (!CANONICALIZATIONS.includes(canonicalization))
      throw optionError(
        `${field}.canonicalization must be one of ${CANONICALIZATIONS.join(', ')}`,
        `${field}.canonicalization`,
      );
    const [h, b] = canonicalization.split('/') as [Canonicalization, Canonicalization];
    this.headerCanonicalization = h;
    this.bodyCanonicalization = b;

    const headerFields = options.headerFields ?? DEFAULT_SIGNED_HEADERS;
    if (!Array.isArray(headerFields) || headerFields.some((n) => !isDkimFieldName(n)))
      throw optionError(`${field}.headerFields must be a list of header field names`, `${field}.headerFields`);
    // RFC 6376 §5.4: the From header field MUST be signed.
    if (!headerFields.some((n) => n.toLowerCase() === 'from'))
      throw optionError(`${field}.headerFields must include From (RFC 6376 §5.4)`, `${field}.headerFields`);
    this.#headerFields = [...new Set(headerFields.map((n) => n.toLowerCase()))];

    const oversign = options.oversign ?? true;
    if (typeof oversign === 'boolean') this.#oversign = oversign ? 'present' : new Set();
    else if (Array.isArray(oversign) && oversign.every(isDkimFieldName))
      this.#oversign = new Set(oversign.map((n) => n.toLowerCase()));
    else throw optionError(`${field}.oversign must be a boolean or a list of field names`, `${field}.oversign`);

    const { expiresIn, identity, bodyLength } = options;
    if (
      expiresIn !== undefined &&
      !(
        typeof expiresIn === 'number' &&
        Number.isFinite(expiresIn) &&
        expiresIn > 0 &&
        expiresIn <= DKIM_MAX_EXPIRES_IN
      )
    )
      throw optionError(
        `${field}.expiresIn must be a positive number of ms, at most ${DKIM_MAX_EXPIRES_IN} (100 years)`,
        `${field}.expiresIn`,
      );
    this.#expiresIn = expiresIn;
    if (identity !== undefined) {
      // i= (RFC 6376 §3.5): its domain is d= or a subdomain; no ';' (tag separator), '=' (quoted-printable
      // escape), whitespace or non-ASCII, so the value is written as given.
      const m = typeof identity === 'string' ? /^([\x21-\x3a\x3c\x3e-\x7e]*)@([^@]+)$/.exec(identity) : null;
      const idDomain = m ? m[2]!.toLowerCase() : '';
      if (!m || !(idDomain === domain || idDomain.endsWith(`.${domain}`)) || !DNS_NAME.test(idDomain))
        throw optionError(`${field}.identity must be [local]@${domain} or a subdomain of it`, `${field}.identity`);
    }
    this.#identity = identity;
    if (bodyLength !== undefined && typeof bodyLength !== 'boolean')
      throw optionError(`${field}.bodyLength must be a boolean`, `${field}.bodyLength`);
    this.#bodyLength = bodyLength === true;

    const loaded = loadDkimKey(options.privateKey, options.algorithm, field);
    this.#key = loaded.key;
    this.algorithm = loaded.algorithm;
  }

  /** The `h=` list for a message's fields: present selected fields, plus the oversigned ones. */
  #signedNames(byName: ReadonlyMap<string, readonly HeaderField[]>): string[] {
    const names: string[] = [];
    for (const name of this.#headerFields) {
      const n = byName.get(name)?.length ?? 0;
      const extra = this.#oversign === 'present' ? (n > 0 ? 1 : 0) : this.#oversign.has(name) ? 1 : 0;
      for (let i = 0; i < n + extra; i++) names.push(name);
    }
    return names;
  }

  /**
   * The `DKIM-Signature` field for a message, folded, CRLF-terminated.
   * @param fields the message's header fields, in order (from `parseHeaderFields`).
   * @param body the body hash for {@link bodyCanonicalization}.
   * @param now signing time (`t=`).
   */
  sign(fields: readonly HeaderField[], body: BodyHash, now: Date = new Date()): string {
    const { unsigned, algorithm, data } = this.#prepare(fields, body, now);
    return withSignature(unsigned, cryptoSign(algorithm, data, this.#key));
  }

  /**
   * {@link sign} with the private-key operation on libuv's thread pool: the same field, but the event loop
   * (parsing replies, building the next message) goes on meanwhile — on a multi-core machine the signature
   * costs the send path little of its throughput.
   */
  async signAsync(fields: readonly HeaderField[], body: BodyHash, now: Date = new Date()): Promise<string> {
    const { unsigned, algorithm, data } = this.#prepare(fields, body, now);
    const signature = await new Promise<Buffer>((resolve, reject) =>
      cryptoSign(algorithm, data, this.#key, (err, sig) => (err ? reject(err) : resolve(sig))),
    );
    return withSignature(unsigned, signature);
  }

  /** The field up to `b=`, and what the key signs (RFC 6376 §3.7, RFC 8463 §3). */
  #prepare(
    fields: readonly HeaderField[],
    body: BodyHash,
    now: Date,
  ): { unsigned: string; algorithm: 'sha256' | null; data: Buffer } {
    const byName = new Map<string, HeaderField[]>();
    for (const f of fields) {
      const list = byName.get(f.key);
      if (list) list.push(f);
      else byName.set(f.key, [f]);
    }
    const names = this.#signedNames(byName);
    const t = Math.floor(now.getTime() / 1000);
    const tags: string[] = [
      'v=1;',
      `a=${this.algorithm};`,
      `c=${this.headerCanonicalization}/${this.bodyCanonicalization};`,
      `d=${this.domain};`,
      `s=${this.selector};`,
      `t=${t};`,
    ];
    if (this.#expiresIn !== undefined) tags.push(`x=${t + Math.ceil(this.#expiresIn / 1000)};`);
    if (this.#identity !== undefined) tags.push(`i=${this.#identity};`);
    if (this.#bodyLength) tags.push(`l=${body.length};`);
    const unsigned = foldSignature(tags, names, `bh=${body.hash.toString('base64')};`);

    // RFC 6376 §5.4.2: for each name, the last instance not yet used, bottom up; a missing one adds nothing.
    const used = new Map<string, number>();
    const parts: string[] = [];
    for (const name of names) {
      const skip = used.get(name) ?? 0;
      used.set(name, skip + 1);
      const list = byName.get(name);
      const field = list?.[list.length - 1 - skip];
      if (field) parts.push(`${canonicalizeHeader(field.raw, this.headerCanonicalization)}\r\n`);
    }
    parts.push(canonicalizeHeader(unsigned, this.headerCanonicalization));
    const data = Buffer.from(parts.join(''), 'latin1');
    return this.algorithm === 'rsa-sha256'
      ? { unsigned, algorithm: 'sha256', data }
      : // RFC 8463 §3: Ed25519 signs the SHA-256 of the hash input (PureEdDSA over the digest).
        { unsigned, algorithm: null, data: createHash('sha256').update(data).digest() };
  }
}

/** The field with its `b=` value, folded, CRLF-terminated. */
function withSignature(unsigned: string, signature: Buffer): string {
  return `${unsigned}${foldBase64(signature.toString('base64'), lastLineLength(unsigned))}\r\n`;
}

/** Length of the last line of a folded text. */
function lastLineLength(text: string): number {
  return text.length - (text.lastIndexOf('\n') + 1);
}

/**
 * `DKIM-Signature: ` and the tags up to an empty `b=`, folded at 78 columns between tags and, inside
 * `h=`, after a colon (both are FWS positions in RFC 6376 §3.5's grammar).
 */
function foldSignature(tags: readonly string[], names: readonly string[], bh: string): string {
  const lines: string[] = [];
  let line = 'DKIM-Signature:';
  // `reserve`: room the piece needs after it on the same line (the first characters of the b= value).
  const add = (piece: string, glue: string, reserve = 0): void => {
    if (line.length + glue.length + piece.length + reserve > LINE_WIDTH) {
      lines.push(line);
      line = ` ${piece}`;
    } else line += glue + piece;
  };
  for (const tag of tags) add(tag, ' ');
  names.forEach((name, i) => {
    const piece = `${i === 0 ? 'h=' : ''}${name}${i === names.length - 1 ? ';' : ':'}`;
    add(piece, i === 0 ? ' ' : '');
  });
  add(bh, ' ');
  add('b=', ' ', 8);
  lines.push(line);
  return lines.join('\r\n');
}

/** The `b=` value, continued on new lines (FWS inside base64 is allowed, RFC 6376 §3.5) within 78 columns. */
function foldBase64(value: string, column: number): string {
  const out: string[] = [];
  let room = Math.max(LINE_WIDTH - column, 1);
  let i = 0;
  while (i < value.length) {
    out.push(value.slice(i, i + room));
    i += room;
    room = LINE_WIDTH - 1;
  }
  return out.join('\r\n ');
}

/** Builds the signers of a `dkim` option (one or a list). @throws InvalidArgumentError as {@link DkimSigner}. */
export function createDkimSigners(option: DkimOptions | readonly DkimOptions[], field = 'dkim'): DkimSigner[] {
  if (Array.isArray(option)) return option.map((o, i) => new DkimSigner(o, `${field}[${i}]`));
  return [new DkimSigner(option as DkimOptions, field)];
}

/**
 * Signers of per-message options, by the options object: a caller reusing one object parses its key once.
 * Module state kept because it pays (bench/micro/module-state.bench.ts: a hit 0.07 µs, building the
 * signers with a 2048-bit PEM key 373 µs, on the shared 2-core VM).
 */
const perMessageSigners = new WeakMap<object, readonly DkimSigner[]>();

/**
 * The signers for one message: its own `dkim` option when given (an empty list turns signing off for it),
 * else the handler's. Null when nothing is to be signed.
 * @throws InvalidArgumentError for a bad per-message option (the send path reports it as INVALID).
 */
export function dkimSignersFor(
  perMessage: DkimOptions | readonly DkimOptions[] | undefined,
  configured: readonly DkimSigner[] | null,
): readonly DkimSigner[] | null {
  if (perMessage === undefined) return configured !== null && configured.length > 0 ? configured : null;
  if (perMessage === null || typeof perMessage !== 'object')
    throw new InvalidArgumentError('dkim must be an object or a list of objects', { field: 'dkim' });
  let signers = perMessageSigners.get(perMessage);
  if (!signers) {
    signers = createDkimSigners(perMessage);
    perMessageSigners.set(perMessage, signers);
  }
  return signers.length > 0 ? signers : null;
}

/** Thrown when a message cannot be signed (not a configuration error). */
export function signError(message: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(message, {
    field: 'dkim',
    code: ErrorCodes.DKIM_SIGN,
    ...(cause === undefined ? {} : { cause }),
  });
}
