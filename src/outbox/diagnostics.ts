/**
 * The outbox's diagnostics channel (node:diagnostics_channel), shared with smtpwire/otel and the
 * `outbox-worker` progress line: one message per job attempt end, published only when someone listens.
 */
import diagnostics from 'node:diagnostics_channel';

/** The channel's name (a stable contract: README "Outbox"). */
export const OUTBOX_JOB_CHANNEL = 'smtpwire:outbox:job';

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

const channel = diagnostics.channel(OUTBOX_JOB_CHANNEL);

/** Publishes one attempt's end (a no-op without subscribers). */
export function publishJob(message: () => OutboxJobMessage): void {
  if (channel.hasSubscribers) channel.publish(message());
}
