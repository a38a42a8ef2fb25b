/**
 * The owner of option rules: strict keys with a did-you-mean, for every options object smtpwire takes
 * (handler, pool, connection, probe/conform, sendMessage, sendRaw, outbox, compat).
 *
 * An option that is silently ignored is worse than one that throws: `auth: { user, pass }` accepted and
 * sent without credentials is how mail ends up unauthenticated. So every options object is checked
 * against its list of known keys, and the error names the nearest known key.
 */
import { InvalidArgumentError } from './errors.js';

/** Levenshtein distance, bounded: returns `max + 1` as soon as the distance must exceed `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      current.push(value);
      if (value < rowMin) rowMin = value;
    }
    if (rowMin > max) return max + 1;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known key nearest to `key`: the same letters in another case first, then the smallest edit
 * distance (at most 2, or 3 for long keys). Null when nothing is close.
 */
export function nearestKey(key: string, known: readonly string[]): string | null {
  const lower = key.toLowerCase();
  for (const k of known) if (k.toLowerCase() === lower) return k;
  const max = key.length > 8 ? 3 : 2;
  let best: string | null = null;
  let bestDistance = max + 1;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase(), max);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Why `key` is not an option of `where`, or null when it is one. `hints` maps a spelling from another
 * library (e.g. nodemailer's `auth`) to what to write instead.
 */
export function unknownKeyMessage(
  key: string,
  known: readonly string[],
  where: string,
  hints: Readonly<Record<string, string>> = {},
): string | null {
  if (known.includes(key)) return null;
  const hint = Object.hasOwn(hints, key) ? hints[key] : undefined;
  if (hint !== undefined) return `unknown option '${key}' in ${where}: ${hint}`;
  const near = nearestKey(key, known);
  return `unknown option '${key}' in ${where}${near ? ` — did you mean '${near}'?` : ''}`;
}

/** The first unknown key of `value` explained, or null when every key is known (undefined values count too). */
export function findUnknownKey(
  value: object,
  known: readonly string[],
  where: string,
  hints?: Readonly<Record<string, string>>,
): { key: string; message: string } | null {
  for (const key of Object.keys(value)) {
    const message = unknownKeyMessage(key, known, where, hints);
    if (message !== null) return { key, message };
  }
  return null;
}

/**
 * Throws for the first key of `value` that is not in `known`.
 * @throws InvalidArgumentError naming the key (as `field`) and the nearest known key.
 */
export function assertKnownKeys(
  value: object,
  known: readonly string[],
  where: string,
  hints?: Readonly<Record<string, string>>,
): void {
  const unknown = findUnknownKey(value, known, where, hints);
  if (unknown) throw new InvalidArgumentError(unknown.message, { field: unknown.key });
}
