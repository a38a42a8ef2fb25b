/**
 * `npm run bench:channels`: what the diagnostics channels and `smtpwire/otel` cost per message (issue 27).
 * Compiled (tsconfig.bench.json) and run as plain JavaScript; prints figures, asserts nothing.
 *
 * Each variant sends `sendRaw` 1 KB messages to a local sink (Postfix smtp-sink when installed, its CPU
 * not ours), 8 in flight over 4 pooled connections. Two parts, each its own process (`--part`):
 *
 * `--part zero` — nothing of OpenTelemetry is loaded:
 *   base        the same engine at a revision without the publish calls (BENCH_CHANNELS_BASE, a compiled
 *               dist/ directory; `npm run bench:channels` builds it from `git archive d6a6a8d`)
 *   idle        this tree, nobody subscribed (what every user of `smtpwire` runs): should equal base
 *
 * `--part otel` — the OpenTelemetry SDK installed as an application does (NodeSDK's set-up: the
 * AsyncLocalStorage context manager, in use, and global tracer and meter providers), no exporter: a tracer
 * provider without span processor, a meter reader that never exports during the run (so the SDK's
 * recording and aggregation are counted, an exporter's work is not):
 *   sdk         smtpwire without `smtpwire/otel` instrumented
 *   otel        `instrument()`: spans and metrics
 *   metrics     `instrument({ traces: false })`
 *
 * Method (as in /work/shared/perf-notes.md): warm-up per variant, then rounds of one block per variant in
 * rotating order, `process.cpuUsage()` charged per block, medians over rounds, so machine drift hits
 * every variant alike. The machine may be shared: the output says how loaded it was.
 *
 * Environment: BENCH_CHANNELS_WARMUP (default 10000: the JIT settles after some 10,000 sends), BENCH_CHANNELS_BLOCK (2000), BENCH_CHANNELS_ROUNDS (7),
 * BENCH_CHANNELS_ONLY (one variant alone, by name), BENCH_CHANNELS_AA=1 (part zero: base twice, the noise floor).
 */
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SmtpProtocolHandler } from '../src/index.js';
import { startSink } from './sink.js';

const WARMUP = Number(process.env.BENCH_CHANNELS_WARMUP ?? 10000);
const BLOCK = Number(process.env.BENCH_CHANNELS_BLOCK ?? 2000);
const ROUNDS = Number(process.env.BENCH_CHANNELS_ROUNDS ?? 7);
const WINDOW = 8;
const CONNECTIONS = 4;

const message = Buffer.from(
  `From: bench@example.com\r\nTo: sink@example.org\r\nSubject: bench\r\nMessage-ID: <b@example.com>\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(
    12,
  ),
);
const envelope = { from: 'bench@example.com', to: ['sink@example.org'] };

type Engine = typeof import('../src/index.js');
interface Variant {
  name: string;
  handler: SmtpProtocolHandler;
  enter?: () => Promise<void>;
  leave?: () => void;
  samples: number[];
}

const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function sendBlock(handler: SmtpProtocolHandler, count: number): Promise<void> {
  let started = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (started < count) {
      started++;
      const r = await handler.sendRaw(envelope, message);
      if (r.status !== 'success') failed++;
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, lane));
  if (failed > 0) throw new Error(`${failed} of ${count} sends failed`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const part = process.argv.includes('otel') ? 'otel' : 'zero';
  const sink = await startSink();
  const here = new URL('.', import.meta.url);
  const current = (await import(new URL('../src/index.js', here).href)) as Engine;
  const handlerOf = (engine: Engine): SmtpProtocolHandler =>
    new engine.SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port: sink.port,
      encryption: 'none',
      poolSize: CONNECTIONS,
      // Recycling every 100 messages would add a reconnect per 100 to every variant alike; off, the
      // per-message path is what is measured.
      pool: { maxMessagesPerConnection: Infinity },
    });

  const variants: Variant[] = [];
  let shutdown = async (): Promise<void> => {};
  if (part === 'zero') {
    const baseDir = process.env.BENCH_CHANNELS_BASE;
    if (baseDir) {
      const base = (await import(pathToFileURL(join(baseDir, 'index.js')).href)) as Engine;
      variants.push({ name: 'base', handler: handlerOf(base), samples: [] });
      // The A/A control: base against itself shows the noise floor of this machine and method.
      if (process.env.BENCH_CHANNELS_AA) variants.push({ name: 'base again', handler: handlerOf(base), samples: [] });
    }
    variants.push({ name: 'idle', handler: handlerOf(current), samples: [] });
  } else {
    const api = await import('@opentelemetry/api');
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const { BasicTracerProvider } = await import('@opentelemetry/sdk-trace-base');
    const sdkMetrics = await import('@opentelemetry/sdk-metrics');
    const otelModule = (await import(
      new URL('../src/otel/index.js', here).href
    )) as typeof import('../src/otel/index.js');
    const reader = new sdkMetrics.PeriodicExportingMetricReader({
      exporter: new sdkMetrics.InMemoryMetricExporter(sdkMetrics.AggregationTemporality.CUMULATIVE),
      exportIntervalMillis: 24 * 3600_000,
    });
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    // An application's first traced request runs `context.with`, which turns its AsyncLocalStorage on
    // (Node 20: promise hooks for every promise from then on); the baseline must pay that too.
    api.context.with(api.context.active(), () => {});
    api.trace.setGlobalTracerProvider(new BasicTracerProvider());
    api.metrics.setGlobalMeterProvider(new sdkMetrics.MeterProvider({ readers: [reader] }));
    shutdown = () => reader.shutdown();
    let otel: { disable(): void } | null = null;
    const instrumented = (name: string, options: { traces?: boolean }): Variant => ({
      name,
      handler: handlerOf(current),
      samples: [],
      enter: async () => {
        otel = await otelModule.instrument(options);
      },
      leave: () => otel?.disable(),
    });
    variants.push({ name: 'sdk', handler: handlerOf(current), samples: [] });
    variants.push(instrumented('otel', {}));
    variants.push(instrumented('metrics', { traces: false }));
  }
  // BENCH_CHANNELS_ONLY=idle (or any variant's name): that one alone, e.g. under --cpu-prof or strace.
  const only = process.env.BENCH_CHANNELS_ONLY;
  if (only) variants.splice(0, variants.length, ...variants.filter((v) => v.name === only));

  const load = os.loadavg()[0]!;
  for (const v of variants) {
    await v.enter?.();
    await sendBlock(v.handler, WARMUP);
    v.leave?.();
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order so no variant always runs first or right after another.
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(round + i) % variants.length]!;
      await v.enter?.();
      const t0 = cpu();
      await sendBlock(v.handler, BLOCK);
      // µs per message = ms per 1,000 messages.
      v.samples.push((cpu() - t0) / BLOCK);
      v.leave?.();
    }
  }
  for (const v of variants) await v.handler.close();
  await shutdown();
  await sink.stop();

  const reference = variants[0]!;
  const pct = (v: Variant): string =>
    v === reference
      ? '—'
      : `${(((median(v.samples) - median(reference.samples)) / median(reference.samples)) * 100).toFixed(1)} %`;
  console.log(
    `smtpwire channels bench, part ${part} — ${sink.name}, sendRaw 1 KB, ${WINDOW} in flight over ${CONNECTIONS} ` +
      `connections, ${WARMUP} warm-up + ${ROUNDS} × ${BLOCK} measured per variant; Node ${process.version}, ` +
      `${os.cpus().length} CPUs, load average at start ${load.toFixed(2)} (a shared machine: compare within this run only)`,
  );
  console.log(`\n| variant | CPU ms / 1,000 messages (median) | min–max over rounds | vs ${reference.name} |`);
  console.log('|---|---:|---:|---:|');
  for (const v of variants) {
    const lo = Math.min(...v.samples).toFixed(1);
    const hi = Math.max(...v.samples).toFixed(1);
    console.log(`| ${v.name} | ${median(v.samples).toFixed(1)} | ${lo}–${hi} | ${pct(v)} |`);
  }
}

await main();
