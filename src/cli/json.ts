/**
 * The one JSON serializer of the command-line tool (`send`, `probe`, `bench`, `sink`, `conform` …
 * `--json`): camelCase keys are the callers' job (they pass camelCase objects; library objects whose
 * `toJSON()` is snake_case, such as DeliveryResult, go through {@link deliveryResultJson}); this
 * module gives every command the same number, date and error rendering.
 *
 * Server text travels in these values (replies, greetings, evidence) and the JSON goes to a terminal:
 * the controls JSON.stringify leaves raw (DEL, C1, bidi) become `\uXXXX` escapes, the same JSON value.
 *
 * Durations are milliseconds; a fractional number is rounded to 3 decimals (a microsecond), so
 * `performance.now()` noise such as `12.345678912` prints as `12.346`. Integers are untouched.
 */
import { terminalSafeJson } from '../util/terminal-text.js';
import type { DeliveryResult } from './api.js';

/** Rounds a fractional number to µs (3 decimals of a millisecond); anything else passes through. */
export function roundNumber(value: number): number {
  if (Number.isInteger(value) || !Number.isFinite(value)) return value;
  return Math.round(value * 1000) / 1000;
}

function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? roundNumber(value) : null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { ...(typeof code === 'string' ? { code } : {}), message: value.message };
  }
  return value;
}

/** `value` as indented JSON with a final newline, numbers rounded to µs, errors as `{ code, message }`. */
export function toJsonText(value: unknown): string {
  return `${terminalSafeJson(JSON.stringify(value, replacer, 2))}\n`;
}

/** One-line JSON (an event stream, as `sink --json` prints), numbers rounded the same way. */
export function toJsonLine(value: unknown): string {
  return `${terminalSafeJson(JSON.stringify(value, replacer))}\n`;
}

/** A DeliveryResult for `--json`: the same fields as the object, in camelCase (its `toJSON()` is the reference's snake_case). */
export function deliveryResultJson(r: DeliveryResult): Record<string, unknown> {
  const response = (r as { response?: string | null }).response;
  return {
    status: r.status,
    messageId: r.messageId,
    smtpCode: r.smtpCode,
    smtpError: r.smtpError,
    enhancedCode: r.enhancedCode ?? null,
    ...(response === undefined ? {} : { response }),
    recipientFailures: r.recipientFailures,
    acceptedRecipients: r.acceptedRecipients ?? [],
    sentAt: r.sentAt?.toISOString() ?? null,
    retryCount: r.retryCount,
    isRetryable: r.isRetryable,
    errorCode: r.error?.code ?? null,
  };
}
