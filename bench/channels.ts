/**
 * `npm run bench:channels`: what the diagnostics channels and `smtpwire/otel` cost per message (issue 27).
 * Compiled (tsconfig.bench.json) and run as plain JavaScript; prints figures, asserts nothing.
 *
 * Variants, each `sendRaw` of a 1 KB message to a local sink (Postfix smtp-sink when installed, its
 * CPU not ours), 8 sends in flight over 4 pooled connections, all in this one process:
 *
 *   base       the same engine at a revision without the new publish calls (BENCH_CHANNELS_BASE, a
 *              compiled dist/ directory; `npm run bench:channels` builds it from `git archive d6a6a8d`)
 *   idle       this tree, nobody subscribed (what every user of `smtpwire` runs): must equal base
 *   otel       this tree with `smtpwire/otel` instrumented on the OpenTelemetry SDK: a tracer
 *              provider with no span processor and a meter provider whose reader never exports
 *              during the run (the SDK's recording and aggregation counted, no exporter)
 *
 * Method (as in /work/shared/perf-notes.md): warm-up per variant, then rounds of one block per variant in
 * rotating order, `process.cpuUsage()` charged per block, medians over rounds, so machine drift hits
 * every variant alike. The machine may be shared: the output says how loaded it was.
 *
 * Environment: BENCH_CHANNELS_WARMUP (default 3000), BENCH_CHANNELS_BLOCK (2000), BENCH_CHANNELS_ROUNDS (7),
 * BENCH_CHANNELS_ONLY (one variant alone: base, idle or otel).
 */
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SmtpProtocolHandler } from '../src/index.js';
import { startSink } from './sink.js';

const WARMUP = Number(process.env.BENCH_CHANNELS_WARMUP ?? 3000);
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
  const sink = await startSink();
  const here = new URL('.', import.meta.url);
  const current = (await import(new URL('../src/index.js', here).href)) as Engine;
  const otelModule = (await import(
    new URL('../src/otel/index.js', here).href
  )) as typeof import('../src/otel/index.js');
  const { BasicTracerProvider } = await import('@opentelemetry/sdk-trace-base');
  const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = await import(
    '@opentelemetry/sdk-metrics'
  );
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
  const baseDir = process.env.BENCH_CHANNELS_BASE;
  if (baseDir) {
    const base = (await import(pathToFileURL(join(baseDir, 'index.js')).href)) as Engine;
    variants.push({ name: 'base (no publish calls)', handler: handlerOf(base), samples: [] });
  }
  variants.push({ name: 'idle (channels, no subscriber)', handler: handlerOf(current), samples: [] });
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 24 * 3600_000,
  });
  const tracerProvider = new BasicTracerProvider();
  const meterProvider = new MeterProvider({ readers: [reader] });
  let otel: { disable(): void } | null = null;
  variants.push({
    name: 'otel (SDK, no exporter)',
    handler: handlerOf(current),
    samples: [],
    enter: async () => {
      otel = await otelModule.instrument({ tracerProvider, meterProvider });
    },
    leave: () => otel?.disable(),
  });

  // BENCH_CHANNELS_ONLY=idle (or base, otel): one variant alone, e.g. under --cpu-prof or strace.
  const only = process.env.BENCH_CHANNELS_ONLY;
  if (only) variants.splice(0, variants.length, ...variants.filter((v) => v.name.startsWith(only)));
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
  await reader.shutdown();
  await sink.stop();

  const idle = variants.find((v) => v.name.startsWith('idle'));
  const base = variants.find((v) => v.name.startsWith('base'));
  const pct = (v: Variant, ref: Variant | undefined): string =>
    !ref || v === ref
      ? '—'
      : `${(((median(v.samples) - median(ref.samples)) / median(ref.samples)) * 100).toFixed(1)} %`;
  console.log(
    `smtpwire channels bench — ${sink.name}, sendRaw 1 KB, ${WINDOW} in flight over ${CONNECTIONS} connections, ` +
      `${WARMUP} warm-up + ${ROUNDS} × ${BLOCK} measured per variant; Node ${process.version}, ` +
      `${os.cpus().length} CPUs, load average at start ${load.toFixed(2)} (a shared machine: compare within this run only)`,
  );
  console.log('\n| variant | CPU ms / 1,000 messages (median) | min–max over rounds | vs base | vs idle |');
  console.log('|---|---:|---:|---:|---:|');
  for (const v of variants) {
    const lo = Math.min(...v.samples).toFixed(1);
    const hi = Math.max(...v.samples).toFixed(1);
    console.log(`| ${v.name} | ${median(v.samples).toFixed(1)} | ${lo}–${hi} | ${pct(v, base)} | ${pct(v, idle)} |`);
  }
}

await main();
