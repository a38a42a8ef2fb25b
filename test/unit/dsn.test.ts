/** protocol/dsn.ts: the one check of a `dsn` value (RFC 3461), as sendMessage, sendRaw, outbox jobs and the engine use it. */
import { describe, expect, it } from 'vitest';
import { checkDsn } from '../../src/protocol/dsn.js';

describe('checkDsn', () => {
  it('takes every documented form', () => {
    for (const ok of [
      {},
      { ret: 'FULL' },
      { ret: 'HDRS', envid: 'id+1=x', notify: ['FAILURE', 'DELAY'], orcpt: true },
      { notify: ['NEVER'], ifUnsupported: 'send-without' },
      { envid: 'x'.repeat(100) },
    ])
      expect(checkDsn(ok)).toBe(ok);
    expect(checkDsn(undefined)).toBeUndefined();
  });

  it.each([
    [null, 'dsn'],
    ['FULL', 'dsn'],
    [{ ret: 'full' }, 'dsn.ret'],
    [{ envid: 'a\r\nRCPT TO:<x@y>' }, 'dsn.envid'],
    [{ envid: 'a\u0085b' }, 'dsn.envid'],
    [{ envid: 'a\vb' }, 'dsn.envid'],
    [{ envid: '' }, 'dsn.envid'],
    [{ envid: '+'.repeat(40) }, 'dsn.envid'], // 120 characters as xtext
    [{ notify: [] }, 'dsn.notify'],
    [{ notify: ['NEVER', 'FAILURE'] }, 'dsn.notify'],
    [{ notify: ['FAILURE', 'FAILURE'] }, 'dsn.notify'],
    [{ notify: 'FAILURE' }, 'dsn.notify'],
    [{ orcpt: 'yes' }, 'dsn.orcpt'],
    [{ ifUnsupported: 'drop' }, 'dsn.ifUnsupported'],
    [{ return: 'FULL' }, 'dsn'],
  ])('refuses %j naming %s', (value, field) => {
    expect(() => checkDsn(value)).toThrow(expect.objectContaining({ field, code: 'ERR_SMTP_INVALID_ARGUMENT' }));
  });
});
