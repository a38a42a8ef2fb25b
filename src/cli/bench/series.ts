/**
 * The time series of a bench run: completions and a latency histogram per interval. Starts at
 * {@link BASE_INTERVAL_MS} and doubles the interval (merging neighbours) whenever it would exceed
 * {@link MAX_POINTS}, so a short run gets a fine picture and a long one bounded memory.
 */
import { type HistogramSnapshot, LatencyHistogram, type LatencySummary } from './histogram.js';

/** The finest interval, ms. */
export const BASE_INTERVAL_MS = 100;
/** Points kept before the interval doubles. */
export const MAX_POINTS = 600;

/** One closed interval: completions in [index, index + 1) × intervalMs after the start. */
export interface IntervalPart {
  index: number;
  ok: number;
  failed: number;
  latency: HistogramSnapshot;
}

/** A thread's series as plain data. */
export interface SeriesPart {
  intervalMs: number;
  points: IntervalPart[];
}

/** One point of a merged series. */
export interface SeriesPoint {
  /** Start of the interval, s after the start of the run (warm-up included). */
  t: number;
  ok: number;
  failed: number;
  /** Completions per second in the interval. */
  rate: number;
  latency: LatencySummary;
}

/** Completions of one thread, recorded in time order. */
export class TimeSeries {
  #intervalMs: number;
  #points: IntervalPart[] = [];
  #index = 0;
  #ok = 0;
  #failed = 0;
  #latency = new LatencyHistogram();

  constructor(intervalMs = BASE_INTERVAL_MS) {
    this.#intervalMs = intervalMs;
  }

  /** One completion `atMs` after the start (non-decreasing), with its latency. */
  record(atMs: number, latencyMs: number, delivered: boolean): void {
    const index = Math.floor(atMs / this.#intervalMs);
    if (index !== this.#index) {
      this.#close();
      this.#index = index;
    }
    this.#latency.record(latencyMs);
    if (delivered) this.#ok++;
    else this.#failed++;
  }

  /** The series so far, the open interval included. */
  part(): SeriesPart {
    this.#close();
    return { intervalMs: this.#intervalMs, points: this.#points };
  }

  #close(): void {
    if (this.#ok + this.#failed === 0) return;
    const last = this.#points.at(-1);
    const snapshot = this.#latency.snapshot();
    if (last?.index === this.#index) {
      // The open interval was folded into the last closed one by a coarsening.
      last.ok += this.#ok;
      last.failed += this.#failed;
      last.latency = LatencyHistogram.from(last.latency).merge(snapshot).snapshot();
    } else this.#points.push({ index: this.#index, ok: this.#ok, failed: this.#failed, latency: snapshot });
    this.#ok = 0;
    this.#failed = 0;
    this.#latency = new LatencyHistogram();
    if (this.#points.length > MAX_POINTS) this.#coarsen();
  }

  #coarsen(): void {
    this.#intervalMs *= 2;
    this.#points = rebucket(this.#points, 1, 2);
    this.#index = Math.floor(this.#index / 2);
  }
}

/**
 * Points of `from`-wide intervals, shifted by `offsetMs`, re-cut into `to`-wide ones (merging those that
 * meet). Exact when `offsetMs` is a multiple of `to` and `to` of `from`.
 */
function rebucket(points: readonly IntervalPart[], from: number, to: number, offsetMs = 0): IntervalPart[] {
  const out = new Map<number, { ok: number; failed: number; latency: LatencyHistogram }>();
  for (const p of points) {
    const index = Math.floor((p.index * from + offsetMs) / to);
    let q = out.get(index);
    if (!q) {
      q = { ok: 0, failed: 0, latency: new LatencyHistogram() };
      out.set(index, q);
    }
    q.ok += p.ok;
    q.failed += p.failed;
    q.latency.merge(p.latency);
  }
  return [...out]
    .sort((a, b) => a[0] - b[0])
    .map(([index, q]) => ({ index, ok: q.ok, failed: q.failed, latency: q.latency.snapshot() }));
}

/**
 * Merges the series of several threads: each shifted by `offsetsMs[i]` (its zero after the earliest; 0
 * for threads of one run, which share their origin) and brought to the coarsest interval among them,
 * then summed interval by interval. `spanMs`, the run's length, gives the last (partial) interval its
 * true width for its rate.
 */
export function mergeSeries(
  parts: readonly SeriesPart[],
  offsetsMs: readonly number[],
  spanMs = Infinity,
): { intervalMs: number; points: SeriesPoint[] } {
  const intervalMs = Math.max(BASE_INTERVAL_MS, ...parts.map((p) => p.intervalMs));
  const all: IntervalPart[] = [];
  parts.forEach((p, i) => {
    all.push(...rebucket(p.points, p.intervalMs, intervalMs, offsetsMs[i] ?? 0));
  });
  const merged = rebucket(all, 1, 1);
  return {
    intervalMs,
    points: merged.map((p) => {
      const latency = LatencyHistogram.from(p.latency).summary();
      // The run may end inside this interval: its rate is over the part that was run.
      const widthMs = Math.max(1, Math.min(intervalMs, spanMs - p.index * intervalMs));
      return {
        t: (p.index * intervalMs) / 1000,
        ok: p.ok,
        failed: p.failed,
        rate: ((p.ok + p.failed) * 1000) / widthMs,
        latency,
      };
    }),
  };
}
