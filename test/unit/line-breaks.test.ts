/**
 * One owner for line breaks (errors.ts `assertNoLineBreaks` / `findLineBreak`): CR, LF, NUL and also VT, FF,
 * NEL (U+0085), U+2028 and U+2029 are refused wherever a caller's value reaches a command or a header line
 * (issue 23: U+0085/VT/FF passed the old CR/LF/NUL check in raw commands, DSN values and clientName).
 */
import { describe, expect, it } from 'vitest';
import { findLineBreak } from '../../src/errors.js';
import { ehlo, mail } from '../../src/protocol/commands.js';
import { checkDsn } from '../../src/protocol/dsn.js';
import { SmtpProtocolHandler } from '../../src/send/handler.js';
import { SmtpConnection } from '../../src/transport/connection.js';

const BREAKS = ['\r', '\n', '\0', '\v', '\f', '\u0085', '\u2028', '\u2029'];
const NEW = ['\v', '\f', '\u0085', '\u2028', '\u2029'];

describe('line breaks: one set, one owner', () => {
  it('findLineBreak names each of them and its index; ordinary text has none', () => {
    for (const br of BREAKS) expect(findLineBreak(`ab${br}c`)).toMatchObject({ index: 2 });
    expect(findLineBreak('plain text, tabs\tand Unicode ü ✓')).toBeNull();
  });

  it.each(NEW.map((b) => [JSON.stringify(b), b]))(
    '%s is refused in clientName, commands, addresses and DSN',
    (_, br) => {
      expect(() => ehlo(`client${br}name`)).toThrow(/line|CR, LF/);
      expect(() => new SmtpProtocolHandler({ hostname: 'localhost', clientName: `mx${br}.example` })).toThrow();
      expect(() => mail(`a${br}@b.example`, {})).toThrow();
      expect(() => checkDsn({ envid: `x${br}y` })).toThrow();
      expect(() => new SmtpProtocolHandler({ hostname: 'localhost', username: `u${br}`, password: 'p' })).toThrow();
    },
  );

  it('a raw command with NEL is refused before anything is written', async () => {
    const conn = new SmtpConnection({ host: '127.0.0.1', port: 9, encryption: 'none' });
    await expect(conn.command('NOOP\u0085RSET')).rejects.toMatchObject({ field: 'command' });
    conn.destroy();
  });
});
