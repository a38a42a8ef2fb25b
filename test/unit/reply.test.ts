import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  formatReply,
  isPermanent,
  isPositive,
  isTransient,
  ReplyParser,
  replyMatches,
} from '../../src/protocol/reply.js';

const parse = (text: string, options = {}) => new ReplyParser(options).push(Buffer.from(text, 'utf8'));

describe('ReplyParser', () => {
  const cases: [string, string, { code: number; enhanced: string | null; lines: string[] }[]][] = [
    ['single line', '250 OK\r\n', [{ code: 250, enhanced: null, lines: ['OK'] }]],
    [
      'multi-line',
      '250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n',
      [{ code: 250, enhanced: null, lines: ['mx.example', 'PIPELINING', 'SIZE 100'] }],
    ],
    [
      'enhanced code on every line',
      '550-5.1.1 No such\r\n550 5.1.1 user\r\n',
      [{ code: 550, enhanced: '5.1.1', lines: ['No such', 'user'] }],
    ],
    ['enhanced class must match the code', '250 5.0.0 odd\r\n', [{ code: 250, enhanced: null, lines: ['5.0.0 odd'] }]],
    ['code alone', '354\r\n', [{ code: 354, enhanced: null, lines: [''] }]],
    [
      'bare LF endings',
      '220 hi\n221 bye\n',
      [
        { code: 220, enhanced: null, lines: ['hi'] },
        { code: 221, enhanced: null, lines: ['bye'] },
      ],
    ],
    ['UTF-8 text', '250 héllo ✓\r\n', [{ code: 250, enhanced: null, lines: ['héllo ✓'] }]],
    ['incomplete line waits', '250-a\r\n250 b', []],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      expect(parse(input)).toEqual(expected);
    });
  }

  const errors: [string, string, string][] = [
    ['not a code', 'hello\r\n', 'ERR_SMTP_PROTOCOL'],
    ['code out of range', '150 no\r\n', 'ERR_SMTP_PROTOCOL'],
    ['bad separator', '250xOK\r\n', 'ERR_SMTP_PROTOCOL'],
    ['code changes within a reply', '250-a\r\n251 b\r\n', 'ERR_SMTP_PROTOCOL'],
    ['too short', '25\r\n', 'ERR_SMTP_PROTOCOL'],
  ];
  for (const [name, input, code] of errors) {
    it(`rejects: ${name}`, () => {
      expect(() => parse(input)).toThrow(ProtocolError);
      try {
        parse(input);
      } catch (err) {
        expect((err as ProtocolError).code).toBe(code);
      }
    });
  }

  it('caps line length before the line ends, so the buffer stays bounded', () => {
    const parser = new ReplyParser({ maxLineLength: 100 });
    expect(parser.push(Buffer.from(`250 ${'x'.repeat(90)}`))).toEqual([]);
    expect(() => parser.push(Buffer.from('x'.repeat(20)))).toThrow(/longer than 100/);
    expect(parser.bufferedBytes).toBeLessThanOrEqual(120);
  });

  it('caps the number of lines in one reply', () => {
    const text = `${'250-x\r\n'.repeat(5)}250 end\r\n`;
    expect(() => parse(text, { maxReplyLines: 5 })).toThrow(
      expect.objectContaining({ code: 'ERR_SMTP_LINE_TOO_LONG' }),
    );
  });

  it('stays poisoned after an error', () => {
    const parser = new ReplyParser();
    expect(() => parser.push(Buffer.from('junk\r\n'))).toThrow(ProtocolError);
    expect(() => parser.push(Buffer.from('250 OK\r\n'))).toThrow(ProtocolError);
  });

  it('reports every raw line to onLine', () => {
    const lines: string[] = [];
    new ReplyParser({ onLine: (l) => lines.push(l) }).push(Buffer.from('250-5.0.0 a\r\n250 5.0.0 b\r\n'));
    expect(lines).toEqual(['250-5.0.0 a', '250 5.0.0 b']);
  });
});

describe('reply helpers', () => {
  const r = (code: number) => ({ code, enhanced: null, lines: ['x'] });
  it('classifies codes', () => {
    expect([isPositive(r(250)), isPositive(r(354)), isPositive(r(421))]).toEqual([true, true, false]);
    expect([isTransient(r(451)), isTransient(r(550))]).toEqual([true, false]);
    expect([isPermanent(r(550)), isPermanent(r(450))]).toEqual([true, false]);
  });
  it('matches expectation prefixes', () => {
    expect(replyMatches(r(251), 2)).toBe(true);
    expect(replyMatches(r(251), 25)).toBe(true);
    expect(replyMatches(r(251), 250)).toBe(false);
    expect(replyMatches(r(354), 2)).toBe(false);
  });
  it('formats with the enhanced code', () => {
    expect(formatReply({ code: 550, enhanced: '5.1.1', lines: ['No such', 'user'] })).toBe('550 5.1.1 No such user');
  });
});

describe('ReplyParser line limit (issue 11, finding 4)', () => {
  const line = `250 ${'x'.repeat(96)}`; // exactly 100 octets before CRLF
  it('accepts a line of exactly maxLineLength octets however CR and LF are split', () => {
    for (let cut = 1; cut < line.length + 2; cut++) {
      const bytes = Buffer.from(`${line}\r\n`);
      const parser = new ReplyParser({ maxLineLength: 100 });
      const replies = [...parser.push(bytes.subarray(0, cut)), ...parser.push(bytes.subarray(cut))];
      expect(replies).toHaveLength(1);
    }
  });
  it('refuses one octet more, wherever the chunk ends', () => {
    for (const cut of [50, 101, 102]) {
      const bytes = Buffer.from(`${line}x\r\n`);
      const parser = new ReplyParser({ maxLineLength: 100 });
      expect(() => {
        parser.push(bytes.subarray(0, cut));
        parser.push(bytes.subarray(cut));
      }).toThrow(expect.objectContaining({ code: 'ERR_SMTP_LINE_TOO_LONG' }));
    }
  });
  it('stops after maxReplies and counts what it left unread', () => {
    const parser = new ReplyParser();
    const replies = parser.push(Buffer.from('220 go\r\n250 injected\r\n'), 1);
    expect(replies).toHaveLength(1);
    expect(parser.bufferedBytes).toBe(14);
    expect(parser.push(Buffer.alloc(0))).toEqual([{ code: 250, enhanced: null, lines: ['injected'] }]);
    expect(parser.bufferedBytes).toBe(0);
  });
});
