/**
 * SmtpMessageValidator: the reference design's validator, as a thin view over the rules' owners.
 *
 * It re-implements nothing: addresses are checked by address.ts, limits by prepare.ts, attachments by
 * mime/attachment.ts, header names, content types and Content-IDs by mime/headers.ts, and
 * `validateMessage` runs the very pass `sendMessage` runs (`prepareMessage`). So the validator,
 * `buildMessage`, `sendMessage` and `sendRaw` agree on every input: same verdict, same error code.
 *
 * Every method returns a {@link ValidationResult} and never throws.
 */
import { type ErrorCode, ErrorCodes, InvalidArgumentError, SmtpError } from '../errors.js';
import { checkAttachment } from './mime/attachment.js';
import {
  checkAttachmentSizes,
  checkBodies,
  checkMailboxLimits,
  checkRecipientLists,
  checkSubject,
  describeType,
  parseMailbox,
  prepareMessage,
  show,
} from './prepare.js';
import type { AddressInput, AttachmentInput, MessageInput } from './types.js';
import { resolveLimits, type ValidationLimits } from './validation-limits.js';

export { DEFAULT_VALIDATION_LIMITS, MB, resolveLimits, type ValidationLimits } from './validation-limits.js';

/** The outcome of one check: `error` is a sentence a user can act on, null when valid. */
export interface ValidationResult {
  valid: boolean;
  error: string | null;
  /** When invalid: the stable code `sendMessage` would report for the same input (`ERR_SMTP_*`). */
  code?: ErrorCode;
}

/** Runs the owners' checks; their error becomes the result. A fresh object each time. */
function view(run: () => void): ValidationResult {
  try {
    run();
    return { valid: true, error: null };
  } catch (err) {
    return {
      valid: false,
      error: err instanceof Error ? err.message : String(err),
      code: err instanceof SmtpError ? err.code : ErrorCodes.INTERNAL,
    };
  }
}

/** A sender used only so `validateMessage` can run the real pass for a message that names none. */
const PLACEHOLDER_FROM = 'validator@placeholder.invalid';

/**
 * Static checks for a message before sending, after the reference design's
 * `SMTPMessageValidator`. Each method returns `{ valid, error }` (plus `code` when invalid) and never
 * throws; each takes optional `limits` (a `Partial<ValidationLimits>`, defaults
 * `DEFAULT_VALIDATION_LIMITS`); limits that are themselves invalid give `{ valid: false }` naming the field.
 */
export class SmtpMessageValidator {
  /**
   * One address in any single-mailbox RFC 5322 form (`a@b.example`, `"Doe, John" <a@b.example>`);
   * the address part is checked against RFC 5321 §4.1.2 and the limits (`checkMailboxAddress`
   * in address.ts). A UTF-8 local part is valid (it needs SMTPUTF8 at send time); an IDN domain
   * is valid when it converts to punycode; an IP literal needs no TLD.
   */
  static validateEmailAddress(email: AddressInput, limits?: Partial<ValidationLimits>): ValidationResult {
    return view(() => {
      const l = resolveLimits(limits);
      checkMailboxLimits(parseMailbox(email), l, '');
    });
  }

  /**
   * To, Cc and Bcc lists: at least one recipient in all, at most `maxRecipients` together, and
   * each address valid (a group counts its members). Errors name the entry, e.g. `ccAddresses[2]`.
   */
  static validateRecipients(
    to: readonly AddressInput[],
    cc?: readonly AddressInput[] | null,
    bcc?: readonly AddressInput[] | null,
    limits?: Partial<ValidationLimits>,
  ): ValidationResult {
    return view(() =>
      checkRecipientLists(
        [
          ['toAddresses', to],
          ['ccAddresses', cc],
          ['bccAddresses', bcc],
        ],
        resolveLimits(limits),
      ),
    );
  }

  /** A subject: a string without CR, LF or NUL, at most `maxSubjectLength` characters (code points). */
  static validateSubject(subject: string, limits?: Partial<ValidationLimits>): ValidationResult {
    return view(() => checkSubject(subject, resolveLimits(limits)));
  }

  /**
   * The text and HTML bodies: each optional, each a string of at most `maxBodySize` UTF-8 bytes
   * (MB = 1024 × 1024 bytes). A message with neither body is valid (e.g. attachments only).
   */
  static validateBody(
    textBody?: string | null,
    htmlBody?: string | null,
    limits?: Partial<ValidationLimits>,
  ): ValidationResult {
    return view(() => checkBodies(textBody, htmlBody, resolveLimits(limits)));
  }

  /**
   * Attachments, by the builder's own rules (mime/attachment.ts): a non-empty `filename` without
   * CR/LF/NUL, exactly one source (`data` base64, `content`, or `path` to a regular file), a
   * well-formed `contentType` and `cid` (`logo` or `<logo>`). Decoded sizes against
   * `maxAttachmentSize` each and `maxTotalAttachmentSize` together; a `Readable` is not counted
   * (its size is unknowable before reading).
   */
  static validateAttachments(
    attachments: readonly AttachmentInput[] | null | undefined,
    limits?: Partial<ValidationLimits>,
  ): ValidationResult {
    return view(() => {
      const l = resolveLimits(limits);
      if (attachments === undefined || attachments === null) return;
      if (!Array.isArray(attachments))
        throw new InvalidArgumentError(`attachments must be an array, got ${describeType(attachments)}`, {
          field: 'attachments',
          // The builder's code for the same fault: same verdict, same code.
          code: ErrorCodes.INVALID_ATTACHMENT,
        });
      const sizes = attachments.map((att, i) => checkAttachment(att, i).size);
      checkAttachmentSizes(
        sizes,
        attachments.map((a, i) => `attachments[${i}] (${show(a.filename)})`),
        l,
      );
    });
  }

  /**
   * The whole message: exactly the checks `sendMessage` runs (`prepareMessage`: limits, subject,
   * bodies, then the builder's address, header and attachment rules, then the address and size
   * limits). `fromAddress` is checked when given. Returns the first problem found.
   */
  static validateMessage(input: MessageInput, limits?: Partial<ValidationLimits>): ValidationResult {
    return view(() => {
      const l = resolveLimits(limits);
      if (typeof input !== 'object' || input === null)
        throw new InvalidArgumentError(`message must be an object, got ${describeType(input)}`, { field: 'message' });
      const from = input.fromAddress;
      prepareMessage(input, {
        limits: l,
        defaultFrom: PLACEHOLDER_FROM,
        checkFrom: from !== undefined && from !== null,
      });
    });
  }
}
