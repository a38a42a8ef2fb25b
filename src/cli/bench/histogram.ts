/**
 * A log-linear latency histogram in the manner of HdrHistogram: fixed memory whatever the number of
 * samples, exact merges (counts add), and a compact snapshot that crosses `worker_threads` (structured
 * clone) or JSON. Values are recorded in whole microseconds.
 *
 * Layout, with S = {@link SUB_BUCKET_BITS}: values below 2^S µs have a bucket each (exact); above,
 * every power of two [2^e, 2^(e+1)) is cut into 2^(S-1) equal buckets of width 2^(e-S+1). A bucket's
 * width is thus at most 2^(1-S) of the values in it: with S = 8, 0.78 %, about HdrHistogram's
 * "2 significant digits". Values above {@link MAX_TRACKABLE_US} land in the last bucket; `max` stays exact.
 */

/** Bits of linear sub-buckets per power of two. */
export const SUB_BUCKET_BITS = 8;
/** Relative width of a bucket (above the exact range): a percentile is within this of the true one. */
export const RELATIVE_PRECISION = 2 ** (1 - SUB_BUCKET_BITS);
/** Largest value with a bucket of its own: 2^36 µs, about 19 hours. */
export const MAX_TRACKABLE_US = 2 ** 36 - 1;

const SUB = 2 ** SUB_BUCKET_BITS;
const HALF = SUB / 2;
const TOP_EXPONENT = 35;
/** Buckets in all: the exact range plus 2^(S-1) per power of two up to 2^36. */
export const BUCKET_COUNT = (TOP_EXPONENT - SUB_BUCKET_BITS + 1) * HALF + SUB;

/** Bucket index of a value in µs (a non-negative integer). */
export function bucketIndex(us: number): number {
  if (us < SUB) return us;
  const v = Math.min(us, MAX_TRACKABLE_US);
  // floor(log2(v)); v < 2^36 so Math.log2 rounding cannot cross a power of two at these magnitudes
  // except right at one, which the correction below fixes.
  let e = Math.floor(Math.log2(v));
  if (2 ** e > v) e--;
  else if (2 ** (e + 1) <= v) e++;
  const shift = e - SUB_BUCKET_BITS + 1;
  return shift * HALF + Math.floor(v / 2 ** shift);
}

/** The smallest and largest µs value a bucket holds. */
export function bucketRange(index: number): [number, number] {
  if (index < SUB) return [index, index];
  const shift = Math.floor((index - SUB) / HALF) + 1;
  const low = (index - shift * HALF) * 2 ** shift;
  return [low, low + 2 ** shift - 1];
}

/** What {@link LatencyHistogram.snapshot} returns: exact, sparse, plain data (µs). */
export interface HistogramSnapshot {
  count: number;
  /** Sum of the recorded µs values (integers: exact up to 2^53). */
  sumUs: number;
  minUs: number;
  maxUs: number;
  /** Non-empty buckets as a flat list: index, count, index, count … (ascending index). */
  buckets: number[];
}

/** Percentiles in ms, as every report shows them. */
export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** The percentiles every report gives, with their JSON names. */
export const PERCENTILES = [
  ['p50', 50],
  ['p90', 90],
  ['p99', 99],
  ['p999', 99.9],
] as const;

/** A fixed-size latency histogram; record in ms, read percentiles in ms. */
export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKET_COUNT);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  /** Records one latency in ms (rounded to the µs; negative values count as 0). */
  record(ms: number): void {
    const us = ms > 0 ? Math.round(ms * 1000) : 0;
    this.#counts[bucketIndex(us)]!++;
    this.#count++;
    this.#sum += us;
    if (us < this.#min) this.#min = us;
    if (us > this.#max) this.#max = us;
  }

  get count(): number {
    return this.#count;
  }

  /** Adds another histogram's samples (or a snapshot of one) to this one. */
  merge(other: LatencyHistogram | HistogramSnapshot): this {
    const s = other instanceof LatencyHistogram ? other.snapshot() : other;
    if (s.count === 0) return this;
    for (let i = 0; i < s.buckets.length; i += 2) this.#counts[s.buckets[i]!]! += s.buckets[i + 1]!;
    this.#count += s.count;
    this.#sum += s.sumUs;
    if (s.minUs < this.#min) this.#min = s.minUs;
    if (s.maxUs > this.#max) this.#max = s.maxUs;
    return this;
  }

  /** Plain data for postMessage or JSON; {@link LatencyHistogram.from} restores it exactly. */
  snapshot(): HistogramSnapshot {
    const buckets: number[] = [];
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const c = this.#counts[i]!;
      if (c !== 0) buckets.push(i, c);
    }
    return { count: this.#count, sumUs: this.#sum, minUs: this.#count ? this.#min : 0, maxUs: this.#max, buckets };
  }

  /** A histogram from a snapshot. @throws RangeError for a bucket index outside the layout. */
  static from(snapshot: HistogramSnapshot): LatencyHistogram {
    for (let i = 0; i < snapshot.buckets.length; i += 2) {
      const index = snapshot.buckets[i]!;
      if (!Number.isInteger(index) || index < 0 || index >= BUCKET_COUNT)
        throw new RangeError(`histogram bucket ${index} is outside 0..${BUCKET_COUNT - 1}`);
    }
    return new LatencyHistogram().merge(snapshot);
  }

  /**
   * The nearest-rank percentile (0 < p ≤ 100) in ms: the top of the bucket holding the sample of
   * rank ceil(p/100 × count), clamped to [min, max]. 0 when empty.
   */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) {
        const top = bucketRange(i)[1];
        return Math.min(this.#max, Math.max(this.#min, top)) / 1000;
      }
    }
    return this.#max / 1000;
  }

  /** Count, min, mean, p50, p90, p99, p99.9 and max, in ms. */
  summary(): LatencySummary {
    const out: LatencySummary = {
      count: this.#count,
      min: this.#count ? this.#min / 1000 : 0,
      mean: this.#count ? this.#sum / this.#count / 1000 : 0,
      p50: 0,
      p90: 0,
      p99: 0,
      p999: 0,
      max: this.#max / 1000,
    };
    for (const [name, p] of PERCENTILES) out[name] = this.percentile(p);
    return out;
  }
}

/** The JSON form of a histogram in reports: non-empty buckets as `[lowMs, highMs, count]`. */
export interface HistogramJson {
  unit: 'ms';
  relativePrecision: number;
  count: number;
  buckets: [number, number, number][];
}

/** A snapshot as {@link HistogramJson} (bucket bounds in ms, exact to the µs). */
export function histogramJson(snapshot: HistogramSnapshot): HistogramJson {
  const buckets: [number, number, number][] = [];
  for (let i = 0; i < snapshot.buckets.length; i += 2) {
    const [low, high] = bucketRange(snapshot.buckets[i]!);
    buckets.push([low / 1000, high / 1000, snapshot.buckets[i + 1]!]);
  }
  return { unit: 'ms', relativePrecision: RELATIVE_PRECISION, count: snapshot.count, buckets };
}
