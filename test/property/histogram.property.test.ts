import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BUCKET_COUNT,
  bucketIndex,
  bucketRange,
  LatencyHistogram,
  MAX_TRACKABLE_US,
  RELATIVE_PRECISION,
} from '../../src/cli/bench/histogram.js';

/** Exact nearest-rank percentile of raw samples. */
function exact(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

// Latencies in ms, spread over the ranges that matter: sub-ms, ms, seconds, a stalled minute.
const latency = fc.oneof(
  fc.double({ min: 0, max: 0.3, noNaN: true }),
  fc.double({ min: 0, max: 50, noNaN: true }),
  fc.double({ min: 0, max: 5000, noNaN: true }),
  fc.double({ min: 0, max: 120_000, noNaN: true }),
);
const samples = fc.array(latency, { minLength: 1, maxLength: 400 });
const pct = fc.oneof(fc.constantFrom(50, 90, 99, 99.9, 100), fc.double({ min: 0.01, max: 100, noNaN: true }));

const fill = (xs: number[]): LatencyHistogram => {
  const h = new LatencyHistogram();
  for (const x of xs) h.record(x);
  return h;
};

describe('LatencyHistogram', () => {
  it('buckets tile the µs range without gaps or overlaps, each at most RELATIVE_PRECISION wide', () => {
    let next = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const [low, high] = bucketRange(i);
      expect(low).toBe(next);
      expect(bucketIndex(low)).toBe(i);
      expect(bucketIndex(high)).toBe(i);
      expect(high - low).toBeLessThanOrEqual(Math.max(0, low * RELATIVE_PRECISION));
      next = high + 1;
    }
    expect(next - 1).toBe(MAX_TRACKABLE_US);
    expect(bucketIndex(MAX_TRACKABLE_US * 10)).toBe(BUCKET_COUNT - 1);
  });

  it('percentiles are within the bucket precision of the exact percentiles of the raw samples', () => {
    fc.assert(
      fc.property(samples, pct, (xs, p) => {
        const h = fill(xs);
        const want = exact(xs, p);
        const got = h.percentile(p);
        // Values are kept in whole µs: half a µs of rounding on top of the bucket width.
        expect(got).toBeGreaterThanOrEqual(want - 0.0005);
        expect(got).toBeLessThanOrEqual(want * (1 + RELATIVE_PRECISION) + 0.0005);
        const s = h.summary();
        expect(s.count).toBe(xs.length);
        expect(s.max).toBeCloseTo(Math.max(...xs), 3);
        expect(s.min).toBeCloseTo(Math.min(...xs), 3);
        expect(s.p50).toBeLessThanOrEqual(s.p90);
        expect(s.p90).toBeLessThanOrEqual(s.p99);
        expect(s.p99).toBeLessThanOrEqual(s.p999);
        expect(s.p999).toBeLessThanOrEqual(s.max);
      }),
      { numRuns: 300 },
    );
  });

  it('merge(a, b) equals recording a ∪ b, in any order, also through snapshots (structured clone, JSON)', () => {
    fc.assert(
      fc.property(fc.array(latency), fc.array(latency), fc.array(latency), (a, b, c) => {
        const all = fill([...a, ...b, ...c]).snapshot();
        expect(fill(a).merge(fill(b)).merge(fill(c)).snapshot()).toEqual(all);
        expect(
          fill(c)
            .merge(fill(a).merge(fill(b)))
            .snapshot(),
        ).toEqual(all);
        const wire = JSON.parse(JSON.stringify(fill(b).snapshot()));
        const cloned = structuredClone(fill(c).snapshot());
        expect(LatencyHistogram.from(fill(a).snapshot()).merge(wire).merge(cloned).snapshot()).toEqual(all);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps fixed memory: a million samples leave a snapshot no bigger than the layout', () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 1_000_000; i++) h.record((i % 10_007) * 0.37);
    const s = h.snapshot();
    expect(s.count).toBe(1_000_000);
    expect(s.buckets.length / 2).toBeLessThanOrEqual(BUCKET_COUNT);
  });

  it('an empty histogram reads as zeros; a snapshot with a foreign bucket is refused', () => {
    expect(new LatencyHistogram().summary()).toEqual({
      count: 0,
      min: 0,
      mean: 0,
      p50: 0,
      p90: 0,
      p99: 0,
      p999: 0,
      max: 0,
    });
    expect(() => LatencyHistogram.from({ count: 1, sumUs: 1, minUs: 1, maxUs: 1, buckets: [BUCKET_COUNT, 1] })).toThrow(
      RangeError,
    );
  });
});
