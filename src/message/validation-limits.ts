/**
 * The validation limits (ValidationLimits) and their one resolver. Sizes are bytes; "MB" means
 * 1024 × 1024 bytes. Pure.
 */
import { ErrorCodes, InvalidArgumentError } from '../errors.js';
import { assertKnownNestedKeys } from '../options.js';

/** One mebibyte: every "MB" in these limits means 1024 × 1024 bytes. */
export const MB = 1024 * 1024;

/**
 * Limits applied by {@link SmtpMessageValidator}. Sizes are bytes; "MB" means 1024 × 1024 bytes.
 * Address lengths are octets (UTF-8) with the domain in its ASCII (punycode) form.
 */
export interface ValidationLimits {
  /** Whole address `local@domain`. Default 254 (RFC 5321 §4.5.3.1.3: 256-octet path minus `<>`). */
  maxAddressLength: number;
  /** Local part. Default 64 (RFC 5321 §4.5.3.1.1). */
  maxLocalPartLength: number;
  /** Each domain label. Default 63 (RFC 1035 §2.3.4). */
  maxLabelLength: number;
  /** Subject, in characters (Unicode code points). Default 998 (RFC 5322 §2.1.1 line limit). */
  maxSubjectLength: number;
  /** Each of the text and HTML bodies, in UTF-8 bytes. Default 100 MB. */
  maxBodySize: number;
  /** One attachment, decoded bytes. Default 25 MB (a common server limit). */
  maxAttachmentSize: number;
  /** All attachments together, decoded bytes. Default 100 MB. */
  maxTotalAttachmentSize: number;
  /** Recipients across To + Cc + Bcc. Default 100. */
  maxRecipients: number;
  /** Refuse single-label domains (`user@example`); false allows them for intranets. Default true. */
  requireTld: boolean;
}

/** The reference design's limits (`MB` = 1024 × 1024 bytes). Frozen. */
export const DEFAULT_VALIDATION_LIMITS: Readonly<ValidationLimits> = Object.freeze({
  maxAddressLength: 254, // RFC 5321 §4.5.3.1.3
  maxLocalPartLength: 64, // RFC 5321 §4.5.3.1.1
  maxLabelLength: 63, // RFC 1035 §2.3.4
  maxSubjectLength: 998, // RFC 5322 §2.1.1
  maxBodySize: 100 * MB,
  maxAttachmentSize: 25 * MB,
  maxTotalAttachmentSize: 100 * MB,
  maxRecipients: 100,
  requireTld: true,
});

const LIMIT_KEYS = Object.keys(DEFAULT_VALIDATION_LIMITS) as (keyof ValidationLimits)[];

/**
 * Fills a partial set of limits with the defaults and checks it: numbers must be positive safe
 * integers, `requireTld` a boolean, and no unknown keys (a typo would otherwise be ignored).
 * Returns a frozen object; `undefined` gives {@link DEFAULT_VALIDATION_LIMITS}.
 *
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ARGUMENT`) naming the field, e.g. `limits.maxRecipients`.
 */
export function resolveLimits(partial?: Partial<ValidationLimits> | null): Readonly<ValidationLimits> {
  if (partial === undefined || partial === null || partial === DEFAULT_VALIDATION_LIMITS)
    return DEFAULT_VALIDATION_LIMITS;
  if (typeof partial !== 'object' || Array.isArray(partial)) {
    throw new InvalidArgumentError('limits must be an object', { code: ErrorCodes.INVALID_ARGUMENT, field: 'limits' });
  }
  const out: ValidationLimits = { ...DEFAULT_VALIDATION_LIMITS };
  // A typo would otherwise be ignored: options.ts owns the unknown-key rule and its did-you-mean.
  assertKnownNestedKeys(partial, LIMIT_KEYS, 'limits');
  for (const key of Object.keys(partial)) {
    const field = `limits.${key}`;
    const value = (partial as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (key === 'requireTld') {
      if (typeof value !== 'boolean') {
        throw new InvalidArgumentError(`${field} must be a boolean, got ${String(value)}`, {
          code: ErrorCodes.INVALID_ARGUMENT,
          field,
        });
      }
      out.requireTld = value;
    } else {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
        throw new InvalidArgumentError(`${field} must be a positive integer, got ${String(value)}`, {
          code: ErrorCodes.INVALID_ARGUMENT,
          field,
        });
      }
      (out as unknown as Record<string, number>)[key] = value;
    }
  }
  return Object.freeze(out);
}
