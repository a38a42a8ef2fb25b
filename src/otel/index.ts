/**
 * `smtpwire/otel`: OpenTelemetry spans and metrics from smtpwire's diagnostics channels.
 * `@opentelemetry/api` is an optional peer dependency, loaded by `instrument()` only: importing
 * `smtpwire` (or this module) loads nothing of OpenTelemetry.
 *
 * @example
 * ```ts
 * import { instrument } from 'smtpwire/otel';
 * const otel = await instrument(); // the global tracer and meter providers
 * // … later
 * otel.disable();
 * ```
 */
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { InvalidArgumentError } from '../errors.js';
import { Observer } from './instrumentation.js';
import { Instruments } from './metrics.js';

export { ATTR, METRIC, SPAN } from './names.js';

export interface InstrumentOptions {
  /** Default: the global one (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider | undefined;
  /** Default: the global one (`metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider | undefined;
  /** Spans. Default true. */
  traces?: boolean | undefined;
  /** Metrics. Default true. */
  metrics?: boolean | undefined;
  /**
   * Put the Message-ID on the send span as `smtp.message.id`. Default false: an ID can be traced back
   * to one person's mail, so it leaves the process only when you say so. Never a metric attribute.
   */
  recordMessageId?: boolean | undefined;
}

/** A running instrumentation: `disable()` unsubscribes it from every channel. */
export interface SmtpwireInstrumentation {
  disable(): void;
}

const SCOPE = 'smtpwire';
const VERSION = '0.1.0';

/**
 * Subscribes to every smtpwire channel and reports sends, attempts, pool and connection phases as
 * spans, and the metrics listed in the README ("Observability"). Call it once per process (each call
 * is an independent subscriber).
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ARGUMENT`) when `@opentelemetry/api` is not installed.
 */
export async function instrument(options: InstrumentOptions = {}): Promise<SmtpwireInstrumentation> {
  let api: typeof import('@opentelemetry/api');
  try {
    api = await import('@opentelemetry/api');
  } catch (err) {
    // A missing optional peer is the caller's setup at fault: the code the outbox gives a missing ioredis.
    throw new InvalidArgumentError(
      'smtpwire/otel needs the optional peer dependency @opentelemetry/api (npm install it)',
      {
        cause: err,
      },
    );
  }
  const tracer =
    options.traces === false
      ? null
      : (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer(SCOPE, VERSION);
  const instruments =
    options.metrics === false
      ? null
      : new Instruments((options.meterProvider ?? api.metrics.getMeterProvider()).getMeter(SCOPE, VERSION));
  const observer = new Observer(api, tracer, instruments, { recordMessageId: options.recordMessageId === true });
  let active = true;
  return {
    disable(): void {
      if (!active) return;
      active = false;
      observer.dispose();
      instruments?.dispose();
    },
  };
}
