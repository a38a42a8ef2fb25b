import { describe, expect, it } from 'vitest';

import { garbage, longLine } from '../../src/testing/faults.js';
import type { ScriptRule } from '../../src/testing/script.js';
import { RuleCounters } from '../../src/testing/script.js';

const s1 = { id: 1 };
const s2 = { id: 2 };

describe('RuleCounters.select', () => {
  it('matches by event, case-insensitively, first rule wins', () => {
    const a: ScriptRule = { on: 'rcpt', reply: 'a' };
    const b: ScriptRule = { on: 'RCPT', reply: 'b' };
    const c = new RuleCounters();
    expect(c.select([a, b], ['RCPT'], 'RCPT TO:<x@y>', s1)).toBe(a);
    expect(c.select([a, b], ['MAIL'], 'MAIL FROM:<>', s1)).toBeUndefined();
  });

  it('nth counts per session', () => {
    const rule: ScriptRule = { on: 'RCPT', nth: 2 };
    const c = new RuleCounters();
    const picks = [s1, s1, s1, s2, s2].map((s) => c.select([rule], ['RCPT'], 'RCPT', s) === rule);
    expect(picks).toEqual([false, true, false, false, true]);
  });

  it('once and times count across the server, reset by clear()', () => {
    const once: ScriptRule = { on: 'GREETING', once: true };
    const twice: ScriptRule = { on: 'NOOP', times: 2 };
    const c = new RuleCounters();
    expect([s1, s2].map((s) => c.select([once], ['GREETING'], '', s))).toEqual([once, undefined]);
    expect([1, 2, 3].map(() => c.select([twice], ['NOOP'], 'NOOP', s1))).toEqual([twice, twice, undefined]);
    c.clear();
    expect(c.select([once], ['GREETING'], '', s1)).toBe(once);
  });

  it('filters by match (RegExp with /g too, or function) and by connection', () => {
    const re: ScriptRule = { on: 'RCPT', match: /bad@/g };
    const fn: ScriptRule = { on: 'RCPT', match: (l) => l.endsWith('<x@y>') };
    const conn: ScriptRule = { on: '*', connection: 2 };
    const c = new RuleCounters();
    expect(c.select([re], ['RCPT'], 'RCPT TO:<bad@y>', s1)).toBe(re);
    expect(c.select([re], ['RCPT'], 'RCPT TO:<bad@y>', s1)).toBe(re);
    expect(c.select([re, fn], ['RCPT'], 'RCPT TO:<x@y>', s1)).toBe(fn);
    expect(c.select([conn], ['QUIT'], 'QUIT', s1)).toBeUndefined();
    expect(c.select([conn], ['QUIT'], 'QUIT', s2)).toBe(conn);
  });

  it('nth counts only lines that pass match', () => {
    const rule: ScriptRule = { on: 'RCPT', match: /bad/, nth: 2 };
    const c = new RuleCounters();
    const lines = ['RCPT TO:<bad1>', 'RCPT TO:<good>', 'RCPT TO:<bad2>'];
    expect(lines.map((l) => c.select([rule], ['RCPT'], l, s1) === rule)).toEqual([false, false, true]);
  });

  it('an event with several names is one occurrence (BDAT LAST is BDAT too)', () => {
    const rule: ScriptRule = { on: ['BDAT', 'BDAT_LAST'], nth: 2 };
    const c = new RuleCounters();
    expect(c.select([rule], ['BDAT'], 'BDAT 1', s1)).toBeUndefined();
    expect(c.select([rule], ['BDAT_LAST', 'BDAT'], 'BDAT 1 LAST', s1)).toBe(rule);
  });
});

describe('fault builders', () => {
  it('longLine has the exact length and the code', () => {
    expect(longLine(600)).toHaveLength(600);
    expect(longLine(10, 421)).toBe('421 xxxxxx');
    expect(() => longLine(3)).toThrow(RangeError);
  });

  it('garbage is deterministic per seed and covers bytes widely', () => {
    expect(garbage(64, 7).equals(garbage(64, 7))).toBe(true);
    expect(garbage(64, 7).equals(garbage(64, 8))).toBe(false);
    expect(new Set(garbage(4096)).size).toBeGreaterThan(200);
  });
});
