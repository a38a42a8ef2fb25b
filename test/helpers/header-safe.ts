import { findLineBreak } from '../../src/errors.js';

/** `text` without the characters the core refuses in a header value (its one rule: errors.ts findLineBreak). */
export function headerSafe(text: string): string {
  let out = text;
  for (let found = findLineBreak(out); found !== null; found = findLineBreak(out))
    out = out.slice(0, found.index) + out.slice(found.index + 1);
  return out;
}
