/**
 * The README's error-code table is the documented contract: it must list exactly the codes of
 * `ErrorCodes`, no more, no fewer (a code added without a row, or a row left after a code was
 * removed, fails here).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('the error-code table equals ErrorCodes', () => {
    const section = /\n## Error codes\n([\s\S]*?)\n## /.exec(readme)?.[1];
    expect(section).toBeDefined();
    const rows = [...section!.matchAll(/^\| `(ERR_SMTP_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(new Set(rows).size).toBe(rows.length);
    expect([...rows].sort()).toEqual([...Object.values(ErrorCodes)].sort());
  });
});
