/**
 * The outbox's diagnostics channel (node:diagnostics_channel), shared with smtpwire/otel and the
 * `outbox-worker` progress line: one message per job attempt end, published only when someone listens.
 */
import { CHANNEL_NAMES, channels } from '../util/channels.js';

/** The channel's name (a stable contract: README "Outbox"); util/channels.ts owns every channel. */
export const OUTBOX_JOB_CHANNEL = CHANNEL_NAMES.outboxJob;

/** What ended one attempt of a job. */
export type OutboxJobOutcome = 'delivered' | 'failed' | 'retry' | 'unknown';

/** The payload published on {@link OUTBOX_JOB_CHANNEL}. */
export interface OutboxJobMessage {
  queue: string;
  jobId: string;
  outcome: OutboxJobOutcome;
  /** The DeliveryResult status (`success`, `rejected`, `unknown`, …), or null when the worker did not decide it. */
  status: string | null;
  durationMs: number;
}

const channel = channels.outboxJob;

/** Publishes one attempt's end (a no-op without subscribers). */
export function publishJob(message: () => OutboxJobMessage): void {
  if (channel.hasSubscribers) channel.publish(message());
}
