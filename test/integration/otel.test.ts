/**
 * smtpwire/otel against the OpenTelemetry SDK's in-memory exporters: the span tree and the metric
 * values for a success, a retry, an UNKNOWN, pool contention, TLS + AUTH, and the outbox channel.
 */
import diagnostics from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Attributes, context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmtpDeliveryStatus, SmtpProtocolHandler, type SmtpProtocolHandlerOptions } from '../../src/index.js';
import { instrument, type SmtpwireInstrumentation } from '../../src/otel/index.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';

let server: ScriptedSmtpServer | undefined;
let handler: SmtpProtocolHandler | undefined;
let otel: SmtpwireInstrumentation | undefined;
let spans: InMemorySpanExporter;
let reader: PeriodicExportingMetricReader;

beforeEach(() => {
  spans = new InMemorySpanExporter();
  reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
});

afterEach(async () => {
  otel?.disable();
  otel = undefined;
  await handler?.close();
  handler = undefined;
  await server?.close();
  server = undefined;
  await reader.shutdown();
});

async function setUp(
  serverOptions: Parameters<typeof startScriptedServer>[0] = {},
  options: Partial<SmtpProtocolHandlerOptions> | ((s: ScriptedSmtpServer) => Partial<SmtpProtocolHandlerOptions>) = {},
  recordMessageId = false,
): Promise<SmtpProtocolHandler> {
  server = await startScriptedServer(serverOptions);
  otel = await instrument({
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    meterProvider: new MeterProvider({ readers: [reader] }),
    recordMessageId,
  });
  handler = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port: server.port,
    encryption: 'none',
    retryPolicy: { maxRetries: 1, delays: [5], jitter: 0 },
    ...(typeof options === 'function' ? options(server) : options),
  });
  return handler;
}

const message = {
  fromAddress: 'a@sender.example',
  toAddresses: ['b@rcpt.example', 'c@rcpt.example'],
  subject: 'hi',
  textBody: 'hello',
};

const named = (name: string): ReadableSpan[] => spans.getFinishedSpans().filter((s) => s.name === name);
const one = (name: string): ReadableSpan => {
  const found = named(name);
  expect(found, name).toHaveLength(1);
  return found[0]!;
};
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan): string => span.spanContext().spanId;

/** Every data point of a metric, as [attributes, value] (a histogram's value: its count). */
async function points(name: string): Promise<{ attributes: Attributes; value: number; sum?: number }[]> {
  const { resourceMetrics } = await reader.collect();
  const out: { attributes: Attributes; value: number; sum?: number }[] = [];
  for (const scope of resourceMetrics.scopeMetrics)
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue;
      for (const p of metric.dataPoints) {
        const v = p.value as number | { count: number; sum: number };
        out.push(
          typeof v === 'number'
            ? { attributes: p.attributes, value: v }
            : { attributes: p.attributes, value: v.count, sum: v.sum },
        );
      }
    }
  return out;
}
const total = async (name: string, match: Attributes = {}): Promise<number> =>
  (await points(name))
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + p.value, 0);

describe('smtpwire/otel spans and metrics', () => {
  it('a success: send → attempt → acquire → connect → phases; replies and hand-over as events; the metrics', async () => {
    const h = await setUp();
    const result = await h.sendMessage(message);
    expect(result.status).toBe(SmtpDeliveryStatus.SUCCESS);

    const send = one('smtp.send');
    const attempt = one('smtp.attempt');
    const acquire = one('smtp.pool.acquire');
    const connect = one('smtp.connect');
    expect(parentOf(send)).toBeUndefined();
    expect(parentOf(attempt)).toBe(idOf(send));
    expect(parentOf(acquire)).toBe(idOf(attempt));
    expect(parentOf(connect)).toBe(idOf(acquire));
    for (const phase of ['smtp.connect.tcp', 'smtp.connect.greeting', 'smtp.connect.ehlo'])
      expect(parentOf(one(phase))).toBe(idOf(connect));
    expect(named('smtp.connect.starttls')).toHaveLength(0);

    expect(send.attributes).toMatchObject({
      'server.address': '127.0.0.1',
      'server.port': server!.port,
      'network.protocol.name': 'smtp',
      'smtp.delivery.status': 'success',
      'smtp.reply.code': 250,
      'smtp.recipients.count': 2,
      'smtp.retry.count': 0,
    });
    expect(send.attributes['smtp.message.id']).toBeUndefined();
    expect(send.status.code).toBe(0);
    expect(attempt.attributes).toMatchObject({ 'smtp.attempt.number': 1, 'smtp.retry.scheduled': false });
    expect(attempt.attributes['smtp.message.bytes_sent']).toBeGreaterThan(0);
    // Replies that went through are not events (only refusals are, see the retry case).
    expect(attempt.events.filter((e) => e.name === 'smtp.reply')).toHaveLength(0);
    expect(attempt.events.some((e) => e.name === 'smtp.handover')).toBe(true);
    // A recipient address is personal data: never on a span.
    expect(JSON.stringify(spans.getFinishedSpans().map((s) => [s.attributes, s.events]))).not.toContain('rcpt.example');

    expect(await total('smtp.client.sends', { 'smtp.delivery.status': 'success', 'smtp.reply.class': '2xx' })).toBe(1);
    expect(await total('smtp.client.attempts')).toBe(1);
    expect(await total('smtp.client.retries')).toBe(0);
    expect(await total('smtp.client.send.duration')).toBe(1);
    expect(await total('smtp.client.bytes_sent')).toBe(attempt.attributes['smtp.message.bytes_sent']);
    // After the final reply the connection is parked: one idle, none used, nobody waiting.
    expect(await total('smtp.client.connection.count', { state: 'idle' })).toBe(1);
    expect(await total('smtp.client.connection.count', { state: 'used' })).toBe(0);
    expect(await total('smtp.client.connection.pending_requests')).toBe(0);
    expect(await total('smtp.client.connect.duration')).toBe(1);
  });

  it("a send is a child of the caller's active span (with a context manager, as NodeSDK sets up)", async () => {
    const h = await setUp();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      await provider.getTracer('app').startActiveSpan('handle request', async (span) => {
        expect((await h.sendMessage(message)).status).toBe('success');
        span.end();
      });
    } finally {
      context.disable();
    }
    const parent = one('handle request');
    const send = one('smtp.send');
    expect(parentOf(send)).toBe(idOf(parent));
    expect(send.spanContext().traceId).toBe(parent.spanContext().traceId);
    // With a context manager the send's frame travels in the OpenTelemetry context: the tree below is whole.
    const attempt = one('smtp.attempt');
    expect(parentOf(attempt)).toBe(idOf(send));
    expect(parentOf(one('smtp.pool.acquire'))).toBe(idOf(attempt));
    expect(parentOf(one('smtp.connect'))).toBe(idOf(one('smtp.pool.acquire')));
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it('DKIM signing: a span under the send, beside the attempt; its duration histogram', async () => {
    const privateKey = readFileSync(join(import.meta.dirname, '../../fixtures/dkim/ed25519.pem'), 'utf8');
    const h = await setUp({}, { dkim: { domainName: 'sender.example', keySelector: 'ed', privateKey } });
    expect((await h.sendMessage(message)).status).toBe('success');
    const sign = one('smtp.dkim.sign');
    expect(parentOf(sign)).toBe(idOf(one('smtp.send')));
    expect(sign.attributes['smtp.dkim.signatures']).toBe(1);
    // The send's children: the signing and the attempt (span clocks are anchored per span by the SDK, so
    // their order is not compared by time).
    const children = spans.getFinishedSpans().filter((x) => parentOf(x) === idOf(one('smtp.send')));
    expect(children.map((x) => x.name).sort()).toEqual(['smtp.attempt', 'smtp.dkim.sign']);
    expect(await total('smtp.client.dkim.sign.duration', { 'server.address': '127.0.0.1' })).toBe(1);
  });

  it('the Message-ID is an attribute only when asked for', async () => {
    const h = await setUp({}, {}, true);
    const result = await h.sendMessage(message);
    expect(one('smtp.send').attributes['smtp.message.id']).toBe(result.messageId);
  });

  it('a retry: two attempts under one send, the first marked with the retry decision and its delay', async () => {
    const h = await setUp({ script: [{ on: 'MAIL', reply: '451 4.3.0 Try again later', once: true }] });
    const result = await h.sendMessage(message);
    expect(result.status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(result.retryCount).toBe(1);
    const send = one('smtp.send');
    const attempts = named('smtp.attempt').sort((a, b) =>
      Number(a.attributes['smtp.attempt.number']) > Number(b.attributes['smtp.attempt.number']) ? 1 : -1,
    );
    expect(attempts.map((a) => parentOf(a))).toEqual([idOf(send), idOf(send)]);
    expect(attempts[0]!.attributes).toMatchObject({
      'smtp.attempt.number': 1,
      'smtp.delivery.status': 'temp_failed',
      'smtp.reply.code': 451,
      'smtp.reply.enhanced_code': '4.3.0',
      'smtp.retry.scheduled': true,
      'smtp.retry.delay_ms': 5,
    });
    expect(attempts[0]!.status.code).toBe(2);
    expect(attempts[0]!.events.filter((e) => e.name === 'smtp.reply').map((e) => e.attributes)).toEqual([
      { 'smtp.command': 'MAIL', 'smtp.reply.code': 451, 'smtp.reply.enhanced_code': '4.3.0' },
    ]);
    expect(attempts[1]!.attributes).toMatchObject({ 'smtp.attempt.number': 2, 'smtp.retry.scheduled': false });
    expect(send.attributes).toMatchObject({ 'smtp.delivery.status': 'success', 'smtp.retry.count': 1 });
    // The warm connection is reused: one connect for both attempts, and the second acquire (a parked
    // connection handed out at once) has no span of its own.
    expect(named('smtp.connect')).toHaveLength(1);
    expect(named('smtp.pool.acquire')).toHaveLength(1);
    expect(await total('smtp.client.connection.wait_time')).toBe(2);
    expect(await total('smtp.client.attempts')).toBe(2);
    expect(await total('smtp.client.retries')).toBe(1);
    expect(await total('smtp.client.sends', { 'smtp.delivery.status': 'success' })).toBe(1);
  });

  it('UNKNOWN: handed over, then the connection dropped; an error span with the hand-over event, never retried', async () => {
    const h = await setUp({ script: [{ on: 'DATA_END', action: 'drop' }] });
    const result = await h.sendMessage(message);
    expect(result.status).toBe(SmtpDeliveryStatus.UNKNOWN);
    const send = one('smtp.send');
    const attempt = one('smtp.attempt');
    expect(send.status.code).toBe(2);
    expect(send.attributes).toMatchObject({
      'smtp.delivery.status': 'unknown',
      'error.type': 'ERR_SMTP_OUTCOME_UNKNOWN',
    });
    expect(attempt.events.some((e) => e.name === 'smtp.handover')).toBe(true);
    expect(attempt.attributes['smtp.retry.scheduled']).toBe(false);
    expect(await total('smtp.client.sends', { 'smtp.delivery.status': 'unknown', 'smtp.reply.class': 'none' })).toBe(1);
    expect(await total('smtp.client.retries')).toBe(0);
    // The broken connection is gone from the pool gauges.
    expect(await total('smtp.client.connection.count')).toBe(0);
  });

  it('a connection refused: error spans for the acquire and the connect, the error code on the send', async () => {
    const h = await setUp();
    await server!.close();
    server = undefined;
    const result = await h.sendMessage({ ...message, retry: false });
    expect(result.error?.code).toBe('ERR_SMTP_CONNECTION');
    const send = one('smtp.send');
    const acquire = one('smtp.pool.acquire');
    const connect = one('smtp.connect');
    expect(parentOf(connect)).toBe(idOf(acquire));
    for (const span of [send, one('smtp.attempt'), acquire, connect]) {
      expect(span.status.code, span.name).toBe(2);
      expect(span.attributes['error.type'], span.name).toBe('ERR_SMTP_CONNECTION');
    }
    expect(connect.events.some((e) => e.name === 'exception')).toBe(true);
    expect(await total('smtp.client.connection.pending_requests')).toBe(0);
    expect(await total('smtp.client.connection.count')).toBe(0);
    expect(await total('smtp.client.sends', { 'smtp.reply.class': 'none' })).toBe(1);
  });

  it('pool contention: one connection, three sends; the waiters are counted and the wait is an event', async () => {
    const h = await setUp({}, { poolSize: 1 });
    const results = await Promise.all([h.sendMessage(message), h.sendMessage(message), h.sendMessage(message)]);
    expect(results.map((r) => r.status)).toEqual(['success', 'success', 'success']);
    expect(named('smtp.send')).toHaveLength(3);
    expect(named('smtp.connect')).toHaveLength(1);
    const waited = named('smtp.pool.acquire').filter((s) => s.events.some((e) => e.name === 'smtp.pool.wait'));
    expect(waited.length).toBeGreaterThanOrEqual(1);
    expect(await total('smtp.client.connection.waits')).toBe(waited.length);
    expect(await total('smtp.client.connection.wait_time')).toBe(3);
    expect(await total('smtp.client.connection.pending_requests')).toBe(0);
    expect(await total('smtp.client.connection.count', { state: 'idle' })).toBe(1);
    expect(await total('smtp.client.connection.count', { state: 'used' })).toBe(0);
    expect(await total('smtp.client.sends', { 'smtp.delivery.status': 'success' })).toBe(3);
  });

  it('STARTTLS and AUTH: TLS version on the connect span, a starttls phase, an auth span with its mechanism', async () => {
    const h = await setUp({ tls: true, users: { user: 'secret' } }, (s) => ({
      hostname: 'localhost',
      encryption: 'tls',
      tls: { ca: s.ca },
      username: 'user',
      password: 'secret',
    }));
    const result = await h.sendMessage(message);
    expect(result.status).toBe(SmtpDeliveryStatus.SUCCESS);
    const connect = one('smtp.connect');
    expect(connect.attributes['tls.protocol.version']).toMatch(/^1\.[23]$/);
    expect(connect.attributes['tls.resumed']).toBe(false);
    expect(parentOf(one('smtp.connect.starttls'))).toBe(idOf(connect));
    const auth = one('smtp.auth');
    expect(parentOf(auth)).toBe(idOf(one('smtp.pool.acquire')));
    expect(typeof auth.attributes['smtp.auth.mechanism']).toBe('string');
    expect(await total('smtp.client.tls.handshakes', { 'tls.resumed': false })).toBe(1);
    expect(await total('smtp.client.tls.resumption_ratio')).toBe(0);
  });

  it('the outbox channel: job ends become counters by outcome and a duration histogram', async () => {
    await setUp();
    const channel = diagnostics.channel('smtpwire:outbox:job');
    const job = (outcome: string, status: string | null, durationMs: number) =>
      channel.publish({ queue: 'mail', jobId: String(Math.random()), outcome, status, durationMs });
    job('delivered', 'success', 120);
    job('delivered', 'success', 80);
    job('retry', 'temp_failed', 30);
    job('unknown', 'unknown', 5000);
    expect(await total('smtp.outbox.jobs', { 'smtp.outbox.queue': 'mail', 'smtp.outbox.outcome': 'delivered' })).toBe(
      2,
    );
    expect(await total('smtp.outbox.jobs', { 'smtp.outbox.outcome': 'unknown' })).toBe(1);
    expect(await total('smtp.outbox.jobs')).toBe(4);
    const durations = await points('smtp.outbox.job.duration');
    const delivered = durations.find((p) => p.attributes['smtp.outbox.outcome'] === 'delivered')!;
    expect(delivered.value).toBe(2);
    expect(delivered.sum).toBeCloseTo(0.2, 6);
    // The idle-time gauge: seconds since the queue's last job ended (just now, so small).
    const idle = await points('smtp.outbox.idle_time');
    expect(idle.map((p) => p.attributes)).toEqual([{ 'smtp.outbox.queue': 'mail' }]);
    expect(idle[0]!.value).toBeGreaterThanOrEqual(0);
    expect(idle[0]!.value).toBeLessThan(5);
  });

  it('metrics without traces: the same counts, no span, no AsyncLocalStorage bound', async () => {
    server = await startScriptedServer({ script: [{ on: 'MAIL', reply: '451 4.3.0 Try again later', once: true }] });
    otel = await instrument({
      tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
      meterProvider: new MeterProvider({ readers: [reader] }),
      traces: false,
    });
    handler = new SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port: server.port,
      encryption: 'none',
      retryPolicy: { maxRetries: 1, delays: [5], jitter: 0 },
    });
    expect((await handler.sendMessage(message)).status).toBe('success');
    expect(spans.getFinishedSpans()).toHaveLength(0);
    expect(await total('smtp.client.sends', { 'smtp.delivery.status': 'success', 'smtp.reply.class': '2xx' })).toBe(1);
    expect(await total('smtp.client.attempts', { 'server.address': '127.0.0.1' })).toBe(2);
    expect(await total('smtp.client.retries', { 'server.address': '127.0.0.1' })).toBe(1);
    expect(await total('smtp.client.connection.count', { state: 'idle', 'server.address': '127.0.0.1' })).toBe(1);
  });

  it('disable() unsubscribes: nothing more is recorded, and the channels have no subscriber left', async () => {
    const h = await setUp();
    otel!.disable();
    await h.sendMessage(message);
    expect(spans.getFinishedSpans()).toHaveLength(0);
    expect(await total('smtp.client.sends')).toBe(0);
    expect(diagnostics.tracingChannel('smtpwire:send').hasSubscribers).toBe(false);
    expect(diagnostics.channel('smtpwire:transaction:reply').hasSubscribers).toBe(false);
  });
});
