/** Small builders for fault payloads used in scripts (`raw`, `reply`, `append`). */

/**
 * A reply line of exactly `length` octets before its CRLF: `<code> xxxx…`. Use it as a `reply`
 * to test a client's cap on reply line length (RFC 5321 §4.5.3.1.5 allows 512 octets).
 * @throws RangeError when `length` is shorter than the code and a space (4).
 */
export function longLine(length: number, code = 250): string {
  if (!Number.isInteger(length) || length < 4) throw new RangeError('longLine: length must be an integer >= 4');
  return `${code} ${'x'.repeat(length - 4)}`;
}

/**
 * `length` deterministic pseudo-random bytes (every value 0–255 possible, CR and LF included),
 * for a `raw` reply. The same `seed` gives the same bytes.
 */
export function garbage(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  // xorshift32: reproducible without node:crypto, so a failing case can be replayed.
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
