/**
 * A whole `smtpwire bench` run: the load in this thread, or split across N `worker_threads` (each with
 * its own handler, connections and message), then one merged {@link BenchReport}. With workers the
 * main thread only starts them at one clock time, sums their progress and merges their parts: counts
 * and errors add, histograms merge bucket by bucket, so the totals are exact.
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type HistogramJson, histogramJson, LatencyHistogram, type LatencySummary } from './histogram.js';
import { clock, type LoadCounts, type LoadOptions, type LoadPart, prepareLoad } from './load.js';
import { mergeSeries, type SeriesPoint } from './series.js';

/** Options of {@link runBench}: one thread's options for the whole run, plus the number of workers. */
export interface BenchOptions extends Omit<LoadOptions, 'onProgress'> {
  /** 0: run in this thread; N ≥ 1: N worker threads, the connections, messages and rate split between them. */
  workers: number;
  /** Called about every `progressMs` ms with the counts of the whole run. */
  onProgress?: (p: BenchProgress) => void;
}

/** A progress snapshot for the live line. */
export interface BenchProgress extends LoadCounts {
  elapsedMs: number;
  /** Target count, or null when only the duration bounds the run. */
  total: number | null;
  durationMs: number | null;
}

/** Failures with one reply (and enhanced) code, or one error code. */
export interface ErrorCount {
  key: string;
  replyCode: number | null;
  enhancedCode: string | null;
  errorCode: string | null;
  count: number;
}

/** The merged figures of a run. Durations in ms unless named `seconds`. */
export interface BenchReport {
  mode: 'closed-loop' | 'open-loop';
  workers: number;
  /** Measured sends completed; `ok` delivered, `failed` not. */
  messages: number;
  ok: number;
  failed: number;
  /** Sends left out as warm-up. */
  warmup: number;
  seconds: number;
  /** Requested (open loop) and achieved send rates, msg/s; achieved is null when nothing was sent. */
  rate: { requested: number | null; achieved: number | null };
  /** Delivered messages per second: null when nothing was delivered (no rate for a closed port). */
  messagesPerSecond: number | null;
  megabytesPerSecond: number | null;
  messageBytes: number;
  latency: LatencySummary;
  histogram: HistogramJson;
  phases: Record<string, LatencySummary>;
  errors: ErrorCount[];
  intervalMs: number;
  series: SeriesPoint[];
  /** Client CPU (user + system, all threads) per 1,000 messages, s; null when nothing was sent. */
  cpuSecondsPer1000: number | null;
  peakRssMiB: number;
}

/** Splits `total` into `n` near-equal integer shares (Infinity stays Infinity). */
export function split(total: number, n: number): number[] {
  if (!Number.isFinite(total)) return Array.from({ length: n }, () => total);
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

/** The options of worker `i` of `n`. */
function share(options: BenchOptions, i: number, n: number): Omit<LoadOptions, 'onProgress'> {
  const { workers: _w, onProgress: _p, ...load } = options;
  return {
    ...load,
    connections: split(options.connections, n)[i]!,
    messages: split(options.messages, n)[i]!,
    ...(options.warmupMessages === undefined ? {} : { warmupMessages: split(options.warmupMessages, n)[i]! }),
    ...(options.rate === undefined ? {} : { rate: options.rate / n }),
  };
}

/** Runs the load and merges the figures. @throws Error when a worker fails to start or crashes. */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const n = Math.max(0, options.workers);
  if (n > options.connections) throw new RangeError('each worker needs a connection: --connections ≥ --workers');
  const counts: LoadCounts[] = Array.from({ length: Math.max(1, n) }, () => ({ sent: 0, ok: 0, failed: 0 }));
  const cpu0 = process.cpuUsage();
  const t0 = clock();
  const progress = options.onProgress
    ? setInterval(() => options.onProgress!(snapshot()), options.progressMs ?? 250)
    : null;
  const snapshot = (): BenchProgress => {
    const sum = counts.reduce((a, c) => ({ sent: a.sent + c.sent, ok: a.ok + c.ok, failed: a.failed + c.failed }));
    return {
      ...sum,
      elapsedMs: clock() - t0,
      total: Number.isFinite(options.messages) ? options.messages : null,
      durationMs: options.durationMs ?? null,
    };
  };
  let parts: LoadPart[];
  try {
    if (n === 0) {
      const prepared = await prepareLoad({ ...share(options, 0, 1), onProgress: (c) => (counts[0] = c) });
      parts = [await prepared.run()];
    } else {
      parts = await runWorkers(options, n, counts);
    }
  } finally {
    if (progress) clearInterval(progress);
  }
  options.onProgress?.(snapshot());
  const cpu = process.cpuUsage(cpu0);
  return mergeParts(parts, {
    workers: n,
    rate: options.rate ?? null,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  });
}

/** Messages between a worker and the main thread. */
export type WorkerMessage =
  | { type: 'ready' }
  | ({ type: 'progress' } & LoadCounts)
  | { type: 'done'; part: LoadPart }
  | { type: 'error'; message: string };

/**
 * The worker script: the compiled `worker.js` beside this module. From the TypeScript source (tests,
 * development) a worker thread cannot load `worker.ts` by itself (Node 20 workers do not inherit the
 * parent's loader hooks), so `SMTPWIRE_BENCH_WORKER` names a bootstrap module that registers a loader
 * first (the test suite's is test/helpers/bench-worker.mjs); no dev tooling is imported from here.
 */
function workerScript(): URL {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new URL('./worker.js', self);
  const boot = process.env.SMTPWIRE_BENCH_WORKER;
  if (boot === undefined || boot === '') {
    throw new Error(
      '--workers needs the compiled build (npm run build), or SMTPWIRE_BENCH_WORKER set to a loader bootstrap',
    );
  }
  return pathToFileURL(boot);
}

async function runWorkers(options: BenchOptions, n: number, counts: LoadCounts[]): Promise<LoadPart[]> {
  const script = workerScript();
  const workers = Array.from({ length: n }, (_, i) => {
    // The progress cadence is the main thread's: workers report at the same pace.
    const workerData = {
      ...share(options, i, n),
      ...(options.onProgress ? { progressMs: options.progressMs ?? 250 } : {}),
    };
    return new Worker(script, { workerData });
  });
  const ready: Promise<void>[] = [];
  const done: Promise<LoadPart>[] = [];
  workers.forEach((w, i) => {
    let markReady!: () => void;
    ready.push(new Promise((r) => (markReady = r)));
    done.push(
      new Promise<LoadPart>((resolve, reject) => {
        w.on('message', (m: WorkerMessage) => {
          if (m.type === 'ready') markReady();
          else if (m.type === 'progress') counts[i] = { sent: m.sent, ok: m.ok, failed: m.failed };
          else if (m.type === 'done') resolve(m.part);
          else reject(new Error(`bench worker ${i + 1}: ${m.message}`));
        });
        w.once('error', (err) => reject(new Error(`bench worker ${i + 1}: ${err.message}`, { cause: err })));
        w.once('exit', (code) => reject(new Error(`bench worker ${i + 1} exited with code ${code}`)));
      }),
    );
  });
  try {
    await Promise.race([Promise.all(ready), Promise.all(done)]);
    // One start time for all, a little ahead; in open loop each worker's schedule is offset by its
    // share of the period, so the N streams interleave instead of bursting together.
    const startAt = clock() + 20;
    const period = options.rate ? 1000 / options.rate : 0;
    for (const [i, w] of workers.entries())
      w.postMessage({ type: 'start', startAt: startAt + i * period, origin: startAt });
    return await Promise.all(done);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Run-wide facts {@link mergeParts} cannot get from the parts. */
export interface MergeContext {
  workers: number;
  rate: number | null;
  cpuSeconds: number;
  peakRssMiB: number;
}

/** Merges the threads' parts into one report: exact sums, merged histograms, aligned time series. */
export function mergeParts(parts: readonly LoadPart[], ctx: MergeContext): BenchReport {
  const latency = new LatencyHistogram();
  const phases = new Map<string, LatencyHistogram>();
  const errors = new Map<string, number>();
  let [sent, ok, failed, warmup] = [0, 0, 0, 0];
  let startedAt = Infinity;
  let endedAt = -Infinity;
  let cpuStart = Infinity;
  let cpuEnd = -Infinity;
  let cpuWindow = parts.length > 0;
  for (const p of parts) {
    if (p.cpuAtStart === null || p.cpuAtEnd === null) cpuWindow = false;
    else {
      cpuStart = Math.min(cpuStart, p.cpuAtStart);
      cpuEnd = Math.max(cpuEnd, p.cpuAtEnd);
    }
    sent += p.sent;
    ok += p.ok;
    failed += p.failed;
    warmup += p.warmup;
    latency.merge(p.latency);
    for (const [name, snap] of Object.entries(p.phases)) {
      if (!phases.has(name)) phases.set(name, new LatencyHistogram());
      phases.get(name)!.merge(snap);
    }
    for (const [key, count] of Object.entries(p.errors)) errors.set(key, (errors.get(key) ?? 0) + count);
    if (p.startedAt !== null) startedAt = Math.min(startedAt, p.startedAt);
    if (p.endedAt !== null) endedAt = Math.max(endedAt, p.endedAt);
  }
  const seconds = endedAt > startedAt ? (endedAt - startedAt) / 1000 : 0;
  const origin = Math.min(...parts.map((p) => p.origin));
  const series = mergeSeries(
    parts.map((p) => p.series),
    parts.map((p) => p.origin - origin),
    endedAt - origin,
  );
  const messageBytes = parts[0]?.messageBytes ?? 0;
  return {
    mode: ctx.rate === null ? 'closed-loop' : 'open-loop',
    workers: ctx.workers,
    messages: sent,
    ok,
    failed,
    warmup,
    seconds,
    rate: { requested: ctx.rate, achieved: sent > 0 && seconds > 0 ? sent / seconds : null },
    messagesPerSecond: ok > 0 && seconds > 0 ? ok / seconds : null,
    megabytesPerSecond: ok > 0 && seconds > 0 ? (ok * messageBytes) / 1e6 / seconds : null,
    messageBytes,
    latency: latency.summary(),
    histogram: histogramJson(latency.snapshot()),
    phases: Object.fromEntries([...phases].map(([name, h]) => [name, h.summary()])),
    errors: [...errors]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([key, count]) => errorCount(key, count)),
    intervalMs: series.intervalMs,
    series: series.points,
    // Steady state: process CPU from the first measured send to the last (all threads). Without those
    // marks (an older part), the whole run's CPU spread over every send, warm-up included.
    cpuSecondsPer1000:
      sent === 0
        ? null
        : cpuWindow
          ? ((cpuEnd - cpuStart) / 1e6 / sent) * 1000
          : (ctx.cpuSeconds / (sent + warmup)) * 1000,
    peakRssMiB: ctx.peakRssMiB,
  };
}

function errorCount(key: string, count: number): ErrorCount {
  const m = /^(\d{3})(?: (\d\.\d{1,3}\.\d{1,3}))?$/.exec(key);
  if (m) return { key, replyCode: Number(m[1]), enhancedCode: m[2] ?? null, errorCode: null, count };
  return { key, replyCode: null, enhancedCode: null, errorCode: key, count };
}
