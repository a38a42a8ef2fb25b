/**
 * DeliveryResult: what became of one `sendMessage` / `sendRaw`, after the reference design's
 * dataclass. Every send resolves with one; none throws for a delivery outcome.
 */
import { SmtpDeliveryStatus } from './enums.js';
import type { SmtpError } from './errors.js';

export interface DeliveryResultInit {
  status: SmtpDeliveryStatus;
  messageId: string | null;
  smtpCode?: number | null;
  smtpError?: string | null;
  enhancedCode?: string | null;
  response?: string | null;
  recipientFailures?: Record<string, string>;
  acceptedRecipients?: string[];
  deliveredRecipients?: string[];
  pendingRecipients?: string[];
  sentAt?: Date | null;
  retryCount?: number;
  isRetryable?: boolean;
  error?: SmtpError | null;
}

export class DeliveryResult {
  readonly status: SmtpDeliveryStatus;
  /** RFC 5322 Message-ID with angle brackets; present even for UNKNOWN, to check or deduplicate. */
  readonly messageId: string | null;
  /** The last relevant reply code. */
  readonly smtpCode: number | null;
  /** Its text, or the error's message when no reply decided the outcome. */
  readonly smtpError: string | null;
  /** Enhanced status code such as `5.1.1` when the server sent one. */
  readonly enhancedCode: string | null;
  /**
   * The full text of the reply that decided the outcome (`250 2.0.0 Ok: queued as 4F2A1`), also on
   * success (it carries the server's queue ID); null when no reply decided it.
   */
  readonly response: string | null;
  /** Refused recipient (address as given) → `550 5.1.1 text`. */
  readonly recipientFailures: Record<string, string>;
  /** Recipients the server accepted (as the caller wrote them); kept for UNKNOWN, where they may have it. */
  readonly acceptedRecipients: string[];
  /**
   * Recipients the server certainly took the message for: a 2xx to the final dot (SMTP: every recipient
   * accepted at RCPT), or an LMTP recipient's own 2xx after the data — in this attempt or an earlier one.
   * Never a mere RCPT acceptance.
   */
  readonly deliveredRecipients: string[];
  /**
   * Recipients refused temporarily at RCPT while the message went to others: a follow-up transaction to them
   * alone (the `resume` send option) cannot reach anyone twice.
   */
  readonly pendingRecipients: string[];
  /** When the server accepted the message (SUCCESS only). */
  readonly sentAt: Date | null;
  /** Attempts minus one. */
  readonly retryCount: number;
  /** Sending the same message again later may succeed (temporary failure, nothing delivered). */
  readonly isRetryable: boolean;
  /** The typed error behind a non-SUCCESS outcome, if there was one (not serialised). */
  readonly error: SmtpError | null;

  constructor(init: DeliveryResultInit) {
    this.status = init.status;
    this.messageId = init.messageId;
    this.smtpCode = init.smtpCode ?? null;
    this.smtpError = init.smtpError ?? null;
    this.enhancedCode = init.enhancedCode ?? null;
    this.response = init.response ?? null;
    this.recipientFailures = init.recipientFailures ?? {};
    this.acceptedRecipients = init.acceptedRecipients ?? [];
    this.deliveredRecipients = init.deliveredRecipients ?? [];
    this.pendingRecipients = init.pendingRecipients ?? [];
    this.sentAt = init.sentAt ?? null;
    this.retryCount = init.retryCount ?? 0;
    this.isRetryable = init.isRetryable ?? false;
    this.error = init.error ?? null;
  }

  get ok(): boolean {
    return this.status === SmtpDeliveryStatus.SUCCESS;
  }

  /** The reference's `to_dict()`: snake_case keys, dates in ISO 8601. */
  toJSON(): Record<string, unknown> {
    return {
      status: this.status,
      message_id: this.messageId,
      smtp_code: this.smtpCode,
      smtp_error: this.smtpError,
      enhanced_code: this.enhancedCode,
      response: this.response,
      recipient_failures: { ...this.recipientFailures },
      accepted_recipients: [...this.acceptedRecipients],
      delivered_recipients: [...this.deliveredRecipients],
      pending_recipients: [...this.pendingRecipients],
      sent_at: this.sentAt ? this.sentAt.toISOString() : null,
      retry_count: this.retryCount,
      is_retryable: this.isRetryable,
      error_code: this.error?.code ?? null,
    };
  }
}
