/**
 * Metric rows per `server.address` are bounded (MAX_METRIC_HOSTS): later hosts share OVERFLOW_HOST, no count is
 * lost, and a host's up/down counts stay on one row. Read back through the OpenTelemetry SDK's own reader.
 */
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { Instruments } from '../../src/otel/metrics.js';
import { ATTR, MAX_METRIC_HOSTS, METRIC, OVERFLOW_HOST } from '../../src/otel/names.js';

let reader: PeriodicExportingMetricReader;
afterEach(() => reader.shutdown());

async function points(name: string): Promise<{ host: unknown; value: number }[]> {
  const { resourceMetrics } = await reader.collect();
  const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
  return (metric?.dataPoints ?? []).map((p) => ({ host: p.attributes[ATTR.serverAddress], value: p.value as number }));
}

describe('otel metric rows per host', () => {
  it(`keep at most ${MAX_METRIC_HOSTS} hosts; the rest are counted under ${OVERFLOW_HOST}, stable per host`, async () => {
    reader = new PeriodicExportingMetricReader({
      exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
      exportIntervalMillis: 3_600_000,
    });
    const m = new Instruments(new MeterProvider({ readers: [reader] }).getMeter('t'));
    const extra = 40;
    const hosts = Array.from({ length: MAX_METRIC_HOSTS + extra }, (_, i) => `mx${i}.example`);
    for (const host of hosts) {
      m.attempt(host);
      m.pending(host, 1);
    }
    // A known host still counts under its own name after the table is full; an overflowed one stays overflowed.
    m.attempt(hosts[0]!);
    for (const host of hosts) m.pending(host, -1);

    const attempts = await points(METRIC.attempts);
    expect(new Set(attempts.map((p) => p.host)).size).toBe(MAX_METRIC_HOSTS + 1);
    expect(attempts.find((p) => p.host === OVERFLOW_HOST)?.value).toBe(extra);
    expect(attempts.find((p) => p.host === hosts[0])?.value).toBe(2);
    expect(attempts.some((p) => p.host === hosts.at(-1))).toBe(false);
    expect(attempts.reduce((sum, p) => sum + p.value, 0)).toBe(hosts.length + 1);
    const pending = await points(METRIC.pendingRequests);
    expect(pending.every((p) => p.value === 0)).toBe(true);
    expect(pending.length).toBe(MAX_METRIC_HOSTS + 1);
    expect(m.metricHost('new.example')).toBe(OVERFLOW_HOST);
    expect(m.metricHost(hosts[1]!)).toBe(hosts[1]);
    m.dispose();
  });
});
