/**
 * The instruments of `smtpwire/otel`, created once per `instrument()` call from the caller's meter.
 * Names and units in `names.ts` and the README.
 */
import type { Attributes, Counter, Histogram, Meter, ObservableGauge, UpDownCounter } from '@opentelemetry/api';
import { ATTR, METRIC } from './names.js';

export class Instruments {
  readonly sends: Counter;
  readonly sendDuration: Histogram;
  readonly attempts: Counter;
  readonly retries: Counter;
  readonly bytesSent: Counter;
  readonly connections: UpDownCounter;
  readonly pending: UpDownCounter;
  readonly waitTime: Histogram;
  readonly waits: Counter;
  readonly connectDuration: Histogram;
  readonly tlsHandshakes: Counter;
  readonly outboxJobs: Counter;
  readonly outboxJobDuration: Histogram;
  readonly #ratio: ObservableGauge;
  #handshakes = 0;
  #resumed = 0;
  readonly #observeRatio = (result: { observe(value: number, attributes?: Attributes): void }): void => {
    if (this.#handshakes > 0) result.observe(this.#resumed / this.#handshakes);
  };

  constructor(meter: Meter) {
    this.sends = meter.createCounter(METRIC.sends, {
      description: 'Sends finished, by delivery status and the class of the deciding reply',
      unit: '{message}',
    });
    this.sendDuration = meter.createHistogram(METRIC.sendDuration, {
      description: 'Time from the call to its DeliveryResult, retries and backoff included',
      unit: 's',
    });
    this.attempts = meter.createCounter(METRIC.attempts, { description: 'Delivery attempts', unit: '{attempt}' });
    this.retries = meter.createCounter(METRIC.retries, {
      description: 'Attempts followed by a retry (after backoff)',
      unit: '{attempt}',
    });
    this.bytesSent = meter.createCounter(METRIC.bytesSent, {
      description: 'Message octets written after encoding (dot-stuffing, CRLF)',
      unit: 'By',
    });
    this.connections = meter.createUpDownCounter(METRIC.connectionCount, {
      description: 'Pooled connections by state (idle: parked; used: handed out)',
      unit: '{connection}',
    });
    this.pending = meter.createUpDownCounter(METRIC.pendingRequests, {
      description: 'Checkouts waiting for a pooled connection',
      unit: '{request}',
    });
    this.waitTime = meter.createHistogram(METRIC.waitTime, {
      description: 'Time to get a connection from the pool (a new connection: its connect and AUTH included)',
      unit: 's',
    });
    this.waits = meter.createCounter(METRIC.waits, {
      description: 'Checkouts that found every connection of their destination taken and waited',
      unit: '{request}',
    });
    this.connectDuration = meter.createHistogram(METRIC.connectDuration, {
      description: 'TCP connect, TLS, greeting, EHLO and STARTTLS of a new connection',
      unit: 's',
    });
    this.tlsHandshakes = meter.createCounter(METRIC.tlsHandshakes, {
      description: 'TLS handshakes of new connections, by tls.resumed',
      unit: '{handshake}',
    });
    this.#ratio = meter.createObservableGauge(METRIC.tlsResumptionRatio, {
      description: 'Share of TLS handshakes that resumed a session, since instrument()',
      unit: '1',
    });
    this.#ratio.addCallback(this.#observeRatio);
    this.outboxJobs = meter.createCounter(METRIC.outboxJobs, {
      description: 'Outbox job attempts ended, by queue and outcome',
      unit: '{job}',
    });
    this.outboxJobDuration = meter.createHistogram(METRIC.outboxJobDuration, {
      description: 'Duration of one outbox job attempt',
      unit: 's',
    });
  }

  handshake(resumed: boolean): void {
    this.#handshakes++;
    if (resumed) this.#resumed++;
    this.tlsHandshakes.add(1, { [ATTR.tlsResumed]: resumed });
  }

  /** Stops the observable callbacks (the other instruments simply stop receiving values). */
  dispose(): void {
    this.#ratio.removeCallback(this.#observeRatio);
  }
}
