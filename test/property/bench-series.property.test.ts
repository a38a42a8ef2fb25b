import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BASE_INTERVAL_MS, MAX_POINTS, mergeSeries, TimeSeries } from '../../src/cli/bench/series.js';

// Completions: non-decreasing times up to ~3 min (long enough to force coarsening), latency, delivered.
const completions = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.double({ min: 0, max: 5000, noNaN: true }), fc.boolean()), {
    minLength: 1,
    maxLength: 1500,
  })
  .map((xs) => {
    let t = 0;
    return xs.map(([dt, ms, ok]) => {
      t += dt;
      return { at: t, ms, ok };
    });
  });

function record(xs: { at: number; ms: number; ok: boolean }[]) {
  const s = new TimeSeries();
  for (const x of xs) s.record(x.at, x.ms, x.ok);
  return s.part();
}

describe('TimeSeries', () => {
  it('keeps every completion in the right interval, at most MAX_POINTS of them, coarsening by doubling', () => {
    fc.assert(
      fc.property(completions, (xs) => {
        const part = record(xs);
        expect(part.points.length).toBeLessThanOrEqual(MAX_POINTS);
        expect(Math.log2(part.intervalMs / BASE_INTERVAL_MS) % 1).toBe(0);
        expect(part.points.reduce((a, p) => a + p.ok, 0)).toBe(xs.filter((x) => x.ok).length);
        expect(part.points.reduce((a, p) => a + p.failed, 0)).toBe(xs.filter((x) => !x.ok).length);
        for (let i = 1; i < part.points.length; i++)
          expect(part.points[i]!.index).toBeGreaterThan(part.points[i - 1]!.index);
        for (const p of part.points) {
          const inside = xs.filter((x) => Math.floor(x.at / part.intervalMs) === p.index);
          expect(p.ok + p.failed).toBe(inside.length);
          expect(p.latency.count).toBe(inside.length);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('mergeSeries: two threads started at different times line up on the first start and add up', () => {
    fc.assert(
      fc.property(completions, completions, fc.nat(50), fc.nat(3), (a, b, k, j) => {
        const offset = k * BASE_INTERVAL_MS * 2 ** j;
        const merged = mergeSeries([record(a), record(b)], [0, offset]);
        const total = merged.points.reduce((n, p) => n + p.ok + p.failed, 0);
        expect(total).toBe(a.length + b.length);
        expect(merged.points.reduce((n, p) => n + p.latency.count, 0)).toBe(a.length + b.length);
        // Thread b's first completion lands in the interval of (its time + offset), when the offset is whole intervals.
        if (offset % merged.intervalMs !== 0) return;
        const first = Math.floor((b[0]!.at + offset) / merged.intervalMs) * (merged.intervalMs / 1000);
        expect(merged.points.some((p) => Math.abs(p.t - first) < 1e-9)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});
