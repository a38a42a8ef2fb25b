/**
 * The Address value: one mailbox, parsed once. Everything downstream (the limits, the header form,
 * the envelope, the transaction plan, DKIM, compat) reads its fields and never parses the text again.
 *
 * Its own enumerable fields are `name` and `address`, the shape `parseAddress` has always returned
 * (so it serialises and compares as before); the derived facts are getters. The domain's IDN form is
 * worked out on first use and kept: a header-only address with an unusable domain costs nothing until
 * something asks for its ASCII form.
 */
import {
  analyzeDomain,
  asciiOf,
  type CheckedParts,
  checkMailboxParts,
  type DomainFacts,
  type MailboxCheckOptions,
} from './address-check.js';

const NON_ASCII = /[^\x00-\x7f]/;

/** The parts of an addr-spec as the grammar found them (address-parser.ts). */
export interface AddrSpec {
  /** Canonical local part: as given when a dot-atom, else a minimal quoted-string. */
  local: string;
  /** The local part's content (quotes and quoted-pairs resolved). */
  localContent: string;
  quoted: boolean;
  /** The domain as given (Unicode allowed, case kept), or an address literal. */
  domain: string;
  /** Offset of the domain in the input, for error positions. */
  domainPos: number;
}

/** One parsed mailbox. Immutable. */
export class Address implements CheckedParts {
  /** The display name, decoded (RFC 2047 encoded-words are decoded), or null when there is none. */
  readonly name: string | null;
  /**
   * `local@domain` as the caller wrote it: the domain as given (Unicode allowed, case kept); the local
   * part as given when it is a dot-atom, otherwise a minimal quoted-string (`"john doe"@example.com`).
   * Results name recipients by this text.
   */
  readonly address: string;
  readonly #spec: AddrSpec;
  #facts: DomainFacts | undefined;
  #wire: string | undefined;
  /** The last verdict and the limits it was given for: a cached value checked again costs nothing. */
  #checkedWith: MailboxCheckOptions | undefined;
  #verdict: string | null = null;

  constructor(name: string | null, spec: AddrSpec) {
    this.name = name;
    this.address = `${spec.local}@${spec.domain}`;
    this.#spec = spec;
    Object.freeze(this);
  }

  /** The canonical local part. */
  get local(): string {
    return this.#spec.local;
  }

  /** The local part's content, quotes removed (for the RFC 5321 checks). */
  get localContent(): string {
    return this.#spec.localContent;
  }

  get quoted(): boolean {
    return this.#spec.quoted;
  }

  /** The domain as given: Unicode allowed, case kept. */
  get domain(): string {
    return this.#spec.domain;
  }

  /** What the domain is (IDN conversion, labels), worked out once. */
  get domainFacts(): DomainFacts {
    this.#facts ??= analyzeDomain(this.#spec.domain);
    return this.#facts;
  }

  /**
   * The domain as A-labels (punycode), an ASCII domain as given, an address literal untouched.
   * @throws InvalidArgumentError `ERR_SMTP_INVALID_ADDRESS` when the domain is not a usable mail domain.
   */
  get asciiDomain(): string {
    return asciiOf(this.domainFacts, this.#spec.domain);
  }

  /**
   * The envelope form for `MAIL FROM:<…>` / `RCPT TO:<…>` and the 7-bit header form:
   * `local@ascii-domain`. @throws as {@link asciiDomain}.
   */
  get wire(): string {
    this.#wire ??= `${this.#spec.local}@${this.asciiDomain}`;
    return this.#wire;
  }

  /**
   * The one answer to "does this address need SMTPUTF8" (RFC 6531): a non-ASCII local part. A
   * non-ASCII domain does not count: it goes out as its A-labels.
   */
  get smtpUtf8(): boolean {
    return NON_ASCII.test(this.#spec.local);
  }

  /**
   * The RFC 5321 rules under `limits` (see `checkMailboxParts`): null when it passes, else why.
   * Remembered for the last limits object, so a handler's repeated sender is checked once.
   */
  check(limits: MailboxCheckOptions): string | null {
    if (this.#checkedWith !== limits) {
      this.#verdict = checkMailboxParts(this, limits);
      this.#checkedWith = limits;
    }
    return this.#verdict;
  }
}
