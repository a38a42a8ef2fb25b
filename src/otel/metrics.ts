/**
 * The instruments of `smtpwire/otel`, created once per `instrument()` call from the caller's meter.
 * Names and units in `names.ts` and the README.
 *
 * Per message the hot path only adds to plain numbers here; sums and gauges reach the SDK through
 * observable instruments at collection time. Only the histograms (a distribution cannot be tallied
 * ahead) are recorded per event. Measured: recording every counter through the SDK cost more than
 * all the spans of a message (its attribute hashing per call), see bench/channels.ts.
 */
import type { Attributes, BatchObservableResult, Histogram, Meter, Observable } from '@opentelemetry/api';
import { ATTR, MAX_METRIC_HOSTS, METRIC, OVERFLOW_HOST } from './names.js';

interface Row {
  readonly attributes: Attributes;
  value: number;
}

/** Running sums per attribute set, keyed by a string the caller builds. */
class Sums {
  readonly #rows = new Map<string, Row>();

  add(key: string, attributes: () => Attributes, n = 1): void {
    this.row(key, attributes).value += n;
  }

  /** The row of `key` (made at 0 on first use), for a caller that keeps it. */
  row(key: string, attributes: () => Attributes): Row {
    let row = this.#rows.get(key);
    if (!row) {
      row = { attributes: attributes(), value: 0 };
      this.#rows.set(key, row);
    }
    return row;
  }

  observe(observable: Observable, result: BatchObservableResult): void {
    for (const row of this.#rows.values()) result.observe(observable, row.value, row.attributes);
  }
}

const byHost = (host: string) => () => ({ [ATTR.serverAddress]: host });

/** A host's rows, kept so the per-message counts are one map lookup (no key string, no closure). */
interface HostRows {
  attempts: Row | null;
  pending: Row | null;
  bytes: Row | null;
  idle: Row | null;
  used: Row | null;
  /** By status, then reply class. */
  readonly sends: Map<string, Map<string, Row>>;
}

export class Instruments {
  readonly sendDuration: Histogram;
  readonly waitTime: Histogram;
  readonly connectDuration: Histogram;
  readonly dkimDuration: Histogram;
  readonly outboxJobDuration: Histogram;
  readonly #meter: Meter;
  readonly #sends = new Sums();
  readonly #attempts = new Sums();
  readonly #retries = new Sums();
  readonly #bytes = new Sums();
  readonly #waits = new Sums();
  readonly #connections = new Sums();
  readonly #pending = new Sums();
  readonly #handshakes = new Sums();
  readonly #outboxJobs = new Sums();
  /** Per outbox queue: `performance.now()` of its last job end (for the idle-time gauge). */
  readonly #outboxLast = new Map<string, { at: number; attributes: Attributes }>();
  readonly #rowsByHost = new Map<string, HostRows>();
  #handshakeCount = 0;
  #resumedCount = 0;
  readonly #observables: Observable[];
  readonly #callback: (result: BatchObservableResult) => void;

  constructor(meter: Meter) {
    this.#meter = meter;
    const sends = meter.createObservableCounter(METRIC.sends, {
      description: 'Sends finished, by delivery status and the class of the deciding reply',
      unit: '{message}',
    });
    const attempts = meter.createObservableCounter(METRIC.attempts, {
      description: 'Delivery attempts',
      unit: '{attempt}',
    });
    const retries = meter.createObservableCounter(METRIC.retries, {
      description: 'Attempts followed by a retry (after backoff)',
      unit: '{attempt}',
    });
    const bytes = meter.createObservableCounter(METRIC.bytesSent, {
      description: 'Message octets written after encoding (dot-stuffing, CRLF)',
      unit: 'By',
    });
    const connections = meter.createObservableUpDownCounter(METRIC.connectionCount, {
      description: 'Pooled connections by state (idle: parked; used: handed out)',
      unit: '{connection}',
    });
    const pending = meter.createObservableUpDownCounter(METRIC.pendingRequests, {
      description: 'Checkouts waiting for a pooled connection',
      unit: '{request}',
    });
    const waits = meter.createObservableCounter(METRIC.waits, {
      description: 'Checkouts that found every connection of their destination taken and waited',
      unit: '{request}',
    });
    const handshakes = meter.createObservableCounter(METRIC.tlsHandshakes, {
      description: 'TLS handshakes of new connections, by tls.resumed',
      unit: '{handshake}',
    });
    const ratio = meter.createObservableGauge(METRIC.tlsResumptionRatio, {
      description: 'Share of TLS handshakes that resumed a session, since instrument()',
      unit: '1',
    });
    const outboxJobs = meter.createObservableCounter(METRIC.outboxJobs, {
      description: 'Outbox job attempts ended, by queue and outcome',
      unit: '{job}',
    });
    const outboxIdle = meter.createObservableGauge(METRIC.outboxIdle, {
      description: 'Time since the last outbox job attempt of the queue ended (a stalled worker shows here)',
      unit: 's',
    });
    // Every histogram is a duration in seconds.
    const seconds = (name: string, description: string): Histogram =>
      meter.createHistogram(name, { description, unit: 's' });
    this.sendDuration = seconds(
      METRIC.sendDuration,
      'Time from the call to its DeliveryResult, retries and backoff included',
    );
    this.waitTime = seconds(
      METRIC.waitTime,
      'Time to get a connection from the pool (a new connection: its connect and AUTH included)',
    );
    this.connectDuration = seconds(
      METRIC.connectDuration,
      'TCP connect, TLS, greeting, EHLO and STARTTLS of a new connection',
    );
    this.dkimDuration = seconds(
      METRIC.dkimDuration,
      'DKIM signing of one message (every signature, the body read once)',
    );
    this.outboxJobDuration = seconds(METRIC.outboxJobDuration, 'Duration of one outbox job attempt');
    this.#observables = [
      sends,
      attempts,
      retries,
      bytes,
      connections,
      pending,
      waits,
      handshakes,
      ratio,
      outboxJobs,
      outboxIdle,
    ];
    this.#callback = (result) => {
      this.#sends.observe(sends, result);
      this.#attempts.observe(attempts, result);
      this.#retries.observe(retries, result);
      this.#bytes.observe(bytes, result);
      this.#connections.observe(connections, result);
      this.#pending.observe(pending, result);
      this.#waits.observe(waits, result);
      this.#handshakes.observe(handshakes, result);
      this.#outboxJobs.observe(outboxJobs, result);
      if (this.#handshakeCount > 0) result.observe(ratio, this.#resumedCount / this.#handshakeCount);
      const now = performance.now();
      for (const last of this.#outboxLast.values()) result.observe(outboxIdle, (now - last.at) / 1000, last.attributes);
    };
    meter.addBatchObservableCallback(this.#callback, this.#observables);
  }

  /**
   * The host a metric row is kept under: itself while fewer than MAX_METRIC_HOSTS have rows, else OVERFLOW_HOST.
   * Stable per host (a host with rows keeps them; a later one always overflows), so up/down counts balance.
   */
  metricHost(host: string): string {
    if (this.#rowsByHost.has(host)) return host;
    if (this.#rowsByHost.size >= MAX_METRIC_HOSTS) return OVERFLOW_HOST;
    this.#rows(host);
    return host;
  }

  #rows(host: string): HostRows {
    let rows = this.#rowsByHost.get(host);
    if (!rows) {
      rows = { attempts: null, pending: null, bytes: null, idle: null, used: null, sends: new Map() };
      this.#rowsByHost.set(host, rows);
    }
    return rows;
  }

  sent(given: string, status: string, replyClass: string): void {
    const host = this.metricHost(given);
    const rows = this.#rows(host);
    let byClass = rows.sends.get(status);
    if (!byClass) {
      byClass = new Map();
      rows.sends.set(status, byClass);
    }
    let row = byClass.get(replyClass);
    if (!row) {
      row = this.#sends.row(`${host}\0${status}\0${replyClass}`, () => ({
        [ATTR.serverAddress]: host,
        [ATTR.status]: status,
        [ATTR.replyClass]: replyClass,
      }));
      byClass.set(replyClass, row);
    }
    row.value++;
  }

  attempt(given: string): void {
    const host = this.metricHost(given);
    const rows = this.#rows(host);
    rows.attempts ??= this.#attempts.row(host, byHost(host));
    rows.attempts.value++;
  }

  retry(given: string): void {
    const host = this.metricHost(given);
    this.#retries.add(host, byHost(host));
  }

  bytesSent(given: string, n: number): void {
    const host = this.metricHost(given);
    const rows = this.#rows(host);
    rows.bytes ??= this.#bytes.row(host, byHost(host));
    rows.bytes.value += n;
  }

  waited(given: string): void {
    const host = this.metricHost(given);
    this.#waits.add(host, byHost(host));
  }

  pending(given: string, n: 1 | -1): void {
    const host = this.metricHost(given);
    const rows = this.#rows(host);
    rows.pending ??= this.#pending.row(host, byHost(host));
    rows.pending.value += n;
  }

  connection(given: string, state: 'idle' | 'used', n: 1 | -1): void {
    const host = this.metricHost(given);
    const rows = this.#rows(host);
    rows[state] ??= this.#connections.row(`${host}\0${state}`, () => ({
      [ATTR.serverAddress]: host,
      [ATTR.connectionState]: state,
    }));
    rows[state].value += n;
  }

  handshake(resumed: boolean): void {
    this.#handshakeCount++;
    if (resumed) this.#resumedCount++;
    this.#handshakes.add(String(resumed), () => ({ [ATTR.tlsResumed]: resumed }));
  }

  outboxJob(queue: string, outcome: string, status: string | null): void {
    const last = this.#outboxLast.get(queue);
    if (last) last.at = performance.now();
    else this.#outboxLast.set(queue, { at: performance.now(), attributes: { [ATTR.outboxQueue]: queue } });
    this.#outboxJobs.add(`${queue}\0${outcome}\0${status}`, () => {
      const attributes: Attributes = { [ATTR.outboxQueue]: queue, [ATTR.outboxOutcome]: outcome };
      if (status) attributes[ATTR.status] = status;
      return attributes;
    });
  }

  /** Stops the observable callbacks (the histograms simply stop receiving values). */
  dispose(): void {
    this.#meter.removeBatchObservableCallback(this.#callback, this.#observables);
  }
}
