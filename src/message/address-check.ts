/**
 * RFC 5321 checks of a mailbox address: §4.1.2 (Mailbox: dot-atom or quoted local part, LDH
 * domain labels, IDN via `domainToASCII`), §4.1.3 (address literals) and §4.5.3.1 (size limits),
 * plus the reference design's policy that a domain needs a top-level domain. Also the one
 * domain-to-ASCII conversion (`toAsciiDomain`) the envelope, the headers and DKIM share.
 */
import { domainToASCII } from 'node:url';
import { ErrorCodes, InvalidArgumentError } from '../errors.js';

/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets including `<` and `>`, so 254 for the address. */
export const DEFAULT_MAX_ADDRESS_LENGTH = 254;
/** RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. */
export const DEFAULT_MAX_LOCAL_PART_LENGTH = 64;
/** RFC 1035 §2.3.4: a DNS label is at most 63 octets. */
export const DEFAULT_MAX_LABEL_LENGTH = 63;
/** RFC 1035 §2.3.4: a domain name is at most 255 octets on the wire, 253 as dotted text. */
const MAX_DOMAIN_LENGTH = 253;

/** Dots IDNA treats as label separators (UTS #46 maps these to `.`). */
const LABEL_SEPARATORS = /[.\u3002\uFF0E\uFF61]/;
/** An LDH hostname label (RFC 1123 §2.1, RFC 5321 §4.1.2 `sub-domain`). */
const LDH_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

/**
 * What a domain is, independent of any limit: its ASCII form and labels, or why it is not a mail
 * domain at all. Worked out once per Address value (see address-value.ts); the limits read it.
 */
export type DomainFacts =
  | {
      readonly ascii: string;
      readonly labels: readonly string[];
      readonly literal: boolean;
      /** Index of the first label that starts or ends with "-", or -1. */
      readonly badHyphen: number;
      /** An ASCII "xn--" label that is not valid punycode. */
      readonly badPunycode: boolean;
    }
  | { readonly error: string };

function checkAddressLiteral(literal: string): string | null {
  const inner = literal.slice(1, -1);
  // RFC 5321 §4.1.3: IPv4-address-literal, or "IPv6:" IPv6-addr (the tag is case-insensitive ABNF).
  if (/^ipv6:/i.test(inner)) {
    const ip = inner.slice(5);
    return isIPv6(ip) ? null : `"${literal}" is not a valid IPv6 address literal`;
  }
  if (isIPv4(inner)) return null;
  if (/^[A-Za-z0-9-]*[A-Za-z0-9]:/.test(inner)) {
    return `"${literal}": general address literals other than IPv6 are not supported`;
  }
  return `"${literal}" is not a valid IPv4 address literal`;
}

/** Dotted quad, each octet 0–255 without leading zeros (RFC 5321 §4.1.3 IPv4-address-literal). */
function isIPv4(text: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) return false;
  return m.slice(1).every((octet) => Number(octet) <= 255 && (octet.length === 1 || octet[0] !== '0'));
}

/**
 * RFC 4291 text form, checked by the WHATWG URL parser (a pure built-in: this module stays free of
 * node:net, STYLE §2). Zone indexes ("%eth0") are not part of RFC 5321's grammar.
 */
function isIPv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(':')) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

/** RFC 5321 §4.1.2 Domain: hostname labels, IDN converted, or an address literal (no limit applied). */
export function analyzeDomain(domain: string): DomainFacts {
  if (domain.length === 0) return { error: 'domain is empty' };
  if (domain.startsWith('[')) {
    if (!domain.endsWith(']')) return { error: `"${domain}" is not a valid address literal` };
    const error = checkAddressLiteral(domain);
    return error === null ? { ascii: domain, labels: [], literal: true, badHyphen: -1, badPunycode: false } : { error };
  }
  const original = domain.split(LABEL_SEPARATORS);
  if (original.some((l) => l.length === 0)) {
    return { error: `domain "${domain}" has an empty label (leading, trailing or double dot)` };
  }
  for (const label of original) {
    // Only letters, digits and hyphen may appear in ASCII; other ASCII (say "%" or "_") would be
    // silently rewritten or let through by domainToASCII, which is for URLs, not mail.
    const bad = /[\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]/.exec(label);
    if (bad)
      return {
        error: `domain "${domain}" contains ${JSON.stringify(bad[0])}; only letters, digits and "-" are allowed`,
      };
  }
  const isAscii = !/[^\x00-\x7f]/.test(domain);
  const ascii = isAscii ? domain : domainToASCII(domain);
  if (ascii === '') return { error: `domain "${domain}" is not a valid internationalised domain name` };
  const labels = ascii.split('.');
  if (labels.length !== original.length) return { error: `domain "${domain}" is not a valid domain name` };
  const badHyphen = labels.findIndex((label) => !LDH_LABEL.test(label));
  // A lone "xn--" label with broken punycode: domainToASCII validates those, so run it for ASCII too.
  const badPunycode = isAscii && labels.some((l) => /^xn--/i.test(l)) && domainToASCII(domain) === '';
  return { ascii, labels, literal: false, badHyphen, badPunycode };
}

/** The domain rules that depend on a limit (label length), in the order they are reported; null when it passes. */
export function domainVerdict(facts: DomainFacts, domain: string, maxLabelLength: number): string | null {
  if ('error' in facts) return facts.error;
  const { labels } = facts;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as string;
    if (label.length > maxLabelLength) {
      return `domain label "${label}" is ${label.length} characters, over the limit of ${maxLabelLength}`;
    }
    if (i === facts.badHyphen) return `domain label "${label}" must not start or end with "-"`;
  }
  if (facts.badPunycode) return `domain "${domain}" has an invalid punycode ("xn--") label`;
  if (facts.ascii.length > MAX_DOMAIN_LENGTH) {
    return `domain is ${facts.ascii.length} characters, over the limit of ${MAX_DOMAIN_LENGTH}`;
  }
  return null;
}

/**
 * Converts a mail domain to its ASCII form: an IDN becomes punycode A-labels (via node:url's
 * `domainToASCII`, UTS #46), an ASCII domain is returned unchanged (case kept), an address
 * literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`) is returned untouched after checking it.
 * Does not require a top-level domain (that is the validator's policy).
 *
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ADDRESS`) when the domain is not a valid
 *   hostname (RFC 5321 §4.1.2, RFC 1123 §2.1) or address literal (RFC 5321 §4.1.3).
 */
export function toAsciiDomain(domain: string): string {
  assertString(domain, 'domain');
  return asciiOf(analyzeDomain(domain), domain);
}

/** The ASCII form under the default label limit. @throws InvalidArgumentError as {@link toAsciiDomain}. */
export function asciiOf(facts: DomainFacts, domain: string): string {
  const error = domainVerdict(facts, domain, DEFAULT_MAX_LABEL_LENGTH);
  if (error !== null || 'error' in facts) {
    throw new InvalidArgumentError(`Invalid domain: ${error}`, {
      code: ErrorCodes.INVALID_ADDRESS,
      field: 'domain',
    });
  }
  return facts.ascii;
}

/** Options for {@link checkMailboxAddress}; defaults are the RFC limits and `requireTld: true`. */
export interface MailboxCheckOptions {
  /** Refuse single-label domains such as `user@localhost` (the reference's rule). Default true. */
  requireTld?: boolean;
  /** Octets of `local@domain` with the domain in ASCII form. Default 254 (RFC 5321 §4.5.3.1.3). */
  maxAddressLength?: number;
  /** Octets of the local part as written (UTF-8). Default 64 (RFC 5321 §4.5.3.1.1). */
  maxLocalPartLength?: number;
  /** Characters of each domain label in ASCII (punycode) form. Default 63 (RFC 1035 §2.3.4). */
  maxLabelLength?: number;
}

/** The parts of a parsed mailbox the RFC 5321 rules look at (an `Address` value provides them). */
export interface CheckedParts {
  readonly local: string;
  readonly localContent: string;
  readonly quoted: boolean;
  readonly domain: string;
  readonly domainFacts: DomainFacts;
}

/**
 * RFC 5321 checks of a parsed mailbox under the limits: §4.1.2 (dot-atom or quoted local part of
 * printable characters, LDH domain labels, IDN), §4.1.3 (address literals), §4.5.3.1 (sizes), and the
 * reference design's TLD policy. Returns null when it passes, otherwise a sentence saying why.
 *
 * Rules: no label over `maxLabelLength`, last label not all digits, at least two labels when
 * `requireTld`; an IPv4/IPv6 address literal needs no TLD.
 */
export function checkMailboxParts(parts: CheckedParts, options: MailboxCheckOptions = {}): string | null {
  const requireTld = options.requireTld ?? true;
  const maxAddress = options.maxAddressLength ?? DEFAULT_MAX_ADDRESS_LENGTH;
  const maxLocal = options.maxLocalPartLength ?? DEFAULT_MAX_LOCAL_PART_LENGTH;
  const maxLabel = options.maxLabelLength ?? DEFAULT_MAX_LABEL_LENGTH;
  if (parts.localContent.length === 0) return 'local part is empty';
  if (parts.quoted && /[\x00-\x1f\x7f]/.test(parts.localContent)) {
    // RFC 5321 §4.1.2 qtextSMTP / quoted-pairSMTP: printable characters only, no tab.
    return 'quoted local part contains a control character or tab';
  }
  const localOctets = Buffer.byteLength(parts.local, 'utf8');
  if (localOctets > maxLocal) return `local part is ${localOctets} octets, over the limit of ${maxLocal}`;
  const domain = parts.domainFacts;
  const error = domainVerdict(domain, parts.domain, maxLabel);
  if (error !== null || 'error' in domain) return error;
  if (!domain.literal) {
    const tld = domain.labels[domain.labels.length - 1] ?? '';
    if (/^[0-9]+$/.test(tld))
      return `top-level domain "${tld}" must not be all digits (use an address literal such as [192.0.2.1] for an IP address)`;
    if (requireTld && domain.labels.length < 2) {
      return `domain "${parts.domain}" has no top-level domain (requireTld: false allows single-label domains)`;
    }
  }
  const total = localOctets + 1 + domain.ascii.length;
  if (total > maxAddress) return `address is ${total} octets, over the limit of ${maxAddress}`;
  return null;
}

/** Callers from plain JavaScript may pass anything: a typed error, not a TypeError, for non-strings. */
export function assertString(input: unknown, what: string): asserts input is string {
  if (typeof input !== 'string') {
    throw new InvalidArgumentError(`${what} must be a string, got ${input === null ? 'null' : typeof input}`, {
      code: ErrorCodes.INVALID_ADDRESS,
      field: 'address',
    });
  }
}
