import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { checkClientName, checkHost, checkPort, duration, MAX_TIMER, positiveInteger } from '../../src/options.js';

const verdict = (fn: () => unknown): boolean => {
  try {
    fn();
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return false;
  }
};

describe('option value rules (property)', () => {
  it('checkPort accepts exactly the integers 1..65535', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)), (v) => {
        const ok = typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
        expect(verdict(() => checkPort(v, 'tls'))).toBe(ok);
      }),
    );
  });

  it('duration accepts finite ms in (0, 2^31 - 1], or 0 when zeroOk, or Infinity when allowed', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.double(), fc.integer(), fc.constant(Infinity)),
        fc.boolean(),
        fc.boolean(),
        (v, zeroOk, infinityOk) => {
          const ok =
            (v === Infinity && infinityOk) || (Number.isFinite(v) && v <= MAX_TIMER && (v > 0 || (zeroOk && v === 0)));
          expect(verdict(() => duration(v, 1, 'x', { zeroOk, infinityOk }))).toBe(ok);
        },
      ),
    );
  });

  it('positiveInteger accepts exactly safe integers ≥ 1', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.bigInt().map(String)), (v) => {
        const ok = typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
        expect(verdict(() => positiveInteger(v, undefined, 'x'))).toBe(ok);
      }),
    );
  });

  it('no host or EHLO name with a line break, NUL or space passes', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('\r', '\n', '\0', ' ', '\t'), fc.string(), (a, bad, b) => {
        const value = `${a}${bad}${b}`;
        expect(verdict(() => checkHost(value))).toBe(false);
        expect(verdict(() => checkClientName(value))).toBe(false);
      }),
    );
  });
});
