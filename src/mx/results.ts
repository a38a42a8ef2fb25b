/**
 * One DeliveryResult for a message sent to several domains (one transaction per domain), plus what
 * became of each domain and each recipient. Pure. The rule keeps the engine's promise that a result
 * never invites a resend that duplicates:
 *
 *   any domain UNKNOWN            → UNKNOWN (accepted recipients listed; nothing resent)
 *   else any domain delivered     → SUCCESS, every other recipient in `recipientFailures`, and those
 *                                   whose failure was temporary in `retryRecipients` (resend to them only)
 *   else all INVALID              → INVALID
 *   else any temporary failure    → TEMP_FAILED (or RETRY), retryable: nothing was delivered
 *   else all REJECTED             → REJECTED, otherwise FAILED
 */
import { SmtpDeliveryStatus } from '../enums.js';
import { DeliveryResult, type DeliveryResultInit } from '../send/result.js';

/** What the TLS of the delivering session was. */
export interface TlsUsed {
  /** `dane`, `pkix` (MTA-STS or REQUIRETLS, WebPKI-valid), `opportunistic`, `encrypt` (DANE without usable records), `none` (plaintext). */
  plan: 'dane' | 'pkix' | 'opportunistic' | 'encrypt' | 'none';
  /** `TLSv1.3` …, or null in plaintext. */
  version: string | null;
  /** The certificate was validated (by DANE or PKIX) for the MX name. */
  authenticated: boolean;
}

export interface DomainOutcome {
  domain: string;
  /** The recipients of this domain, as the caller gave them. */
  recipients: string[];
  result: DeliveryResult;
  /** The MX host and address that gave the deciding answer, when a session got that far. */
  mxHost: string | null;
  address: string | null;
  tls: TlsUsed | null;
}

export interface RecipientOutcome {
  domain: string;
  status: SmtpDeliveryStatus;
  mxHost: string | null;
  /** The refusal or failure text; null when accepted. */
  error: string | null;
}

const TEMPORARY: readonly SmtpDeliveryStatus[] = [SmtpDeliveryStatus.TEMP_FAILED, SmtpDeliveryStatus.RETRY];

/** The result of a delivery to domains: a DeliveryResult with the per-domain and per-recipient detail. */
export class MxDeliveryResult extends DeliveryResult {
  readonly domains: readonly DomainOutcome[];
  readonly recipients: Readonly<Record<string, RecipientOutcome>>;
  /** Recipients whose failure was temporary while others were delivered: resend to these only. */
  readonly retryRecipients: readonly string[];

  constructor(
    init: DeliveryResultInit,
    domains: readonly DomainOutcome[],
    recipients: Record<string, RecipientOutcome>,
    retry: string[],
  ) {
    super(init);
    this.domains = domains;
    this.recipients = recipients;
    this.retryRecipients = retry;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      domains: this.domains.map((d) => ({
        domain: d.domain,
        recipients: d.recipients,
        status: d.result.status,
        mx_host: d.mxHost,
        address: d.address,
        tls: d.tls,
        response: d.result.response,
        error: d.result.smtpError,
      })),
      retry_recipients: [...this.retryRecipients],
    };
  }
}

/** Combines per-domain outcomes into one result (the rule at the top of this file). Pure. */
export function combineResults(messageId: string | null, outcomes: readonly DomainOutcome[]): MxDeliveryResult {
  const recipients: Record<string, RecipientOutcome> = {};
  const accepted: string[] = [];
  const delivered: string[] = [];
  const failures: Record<string, string> = {};
  const retry: string[] = [];
  for (const o of outcomes) {
    const r = o.result;
    for (const rcpt of o.recipients) {
      const refused = r.recipientFailures[rcpt];
      // Delivered is the domain result's own word (a 2xx to the dot, or an LMTP recipient's 2xx), never an RCPT
      // acceptance: a 451 to the dot leaves RCPT-accepted recipients undelivered. Accepted recipients of an
      // UNKNOWN domain may have it.
      const got = r.deliveredRecipients.includes(rcpt);
      const ok = got || (r.status === SmtpDeliveryStatus.UNKNOWN && r.acceptedRecipients.includes(rcpt));
      // A recipient refused with 4xx while others were accepted is a temporary failure of its own.
      const refusedFor =
        refused === undefined
          ? null
          : refused.startsWith('4')
            ? SmtpDeliveryStatus.TEMP_FAILED
            : SmtpDeliveryStatus.REJECTED;
      const status = got
        ? SmtpDeliveryStatus.SUCCESS
        : ok
          ? SmtpDeliveryStatus.UNKNOWN
          : refusedFor !== null && r.status === SmtpDeliveryStatus.SUCCESS
            ? refusedFor
            : r.status;
      recipients[rcpt] = {
        domain: o.domain,
        status,
        mxHost: o.mxHost,
        error: ok ? null : (refused ?? r.smtpError ?? r.status),
      };
      if (ok) accepted.push(rcpt);
      if (got) delivered.push(rcpt);
      else failures[rcpt] = refused ?? r.smtpError ?? r.status;
      if (!ok && TEMPORARY.includes(status)) retry.push(rcpt);
    }
  }
  const statuses = outcomes.map((o) => o.result.status);
  const some = (s: SmtpDeliveryStatus): boolean => statuses.includes(s);
  let status: SmtpDeliveryStatus;
  if (some(SmtpDeliveryStatus.UNKNOWN)) status = SmtpDeliveryStatus.UNKNOWN;
  else if (some(SmtpDeliveryStatus.SUCCESS)) status = SmtpDeliveryStatus.SUCCESS;
  else if (statuses.every((s) => s === SmtpDeliveryStatus.INVALID)) status = SmtpDeliveryStatus.INVALID;
  else if (some(SmtpDeliveryStatus.TEMP_FAILED)) status = SmtpDeliveryStatus.TEMP_FAILED;
  else if (some(SmtpDeliveryStatus.RETRY)) status = SmtpDeliveryStatus.RETRY;
  else if (statuses.every((s) => s === SmtpDeliveryStatus.REJECTED)) status = SmtpDeliveryStatus.REJECTED;
  else status = SmtpDeliveryStatus.FAILED;
  // The deciding domain: the first with the overall status (its reply and error describe the result).
  const deciding = outcomes.find((o) => o.result.status === status)?.result ?? outcomes[0]?.result;
  const success = status === SmtpDeliveryStatus.SUCCESS;
  const init: DeliveryResultInit = {
    status,
    messageId,
    smtpCode: deciding?.smtpCode ?? null,
    smtpError: success ? null : (deciding?.smtpError ?? null),
    enhancedCode: deciding?.enhancedCode ?? null,
    response: deciding?.response ?? null,
    recipientFailures: failures,
    acceptedRecipients: accepted,
    deliveredRecipients: delivered,
    // The DeliveryResult name for "resend to these alone duplicates nothing": the same list as retryRecipients.
    pendingRecipients: success ? retry : [],
    sentAt: success ? (deciding?.sentAt ?? new Date()) : null,
    retryCount: Math.max(0, ...outcomes.map((o) => o.result.retryCount)),
    isRetryable: TEMPORARY.includes(status),
    error: success ? null : (deciding?.error ?? null),
  };
  return new MxDeliveryResult(init, outcomes, recipients, success ? retry : []);
}
