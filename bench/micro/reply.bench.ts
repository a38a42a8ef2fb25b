/**
 * Micro-benchmark of the reply parser (`npx vitest bench bench/micro/reply.bench.ts`): the replies a
 * pipelined transaction gets (MAIL, RCPT, DATA, final), a long EHLO reply, and the same bytes split
 * into small reads.
 */
import { bench, describe } from 'vitest';
import { ReplyParser } from '../../src/protocol/reply.js';

const transaction = Buffer.from(
  '250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 4Xb9Lq1Wq2z\r\n',
);
const hundred = Buffer.concat(Array.from({ length: 100 }, () => transaction));
const ehlo = Buffer.from(
  [
    '250-mail.example.com Hello client.example [192.0.2.1]',
    '250-SIZE 52428800',
    '250-8BITMIME',
    '250-PIPELINING',
    '250-CHUNKING',
    '250-SMTPUTF8',
    '250-ENHANCEDSTATUSCODES',
    '250-DSN',
    '250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2',
    '250 STARTTLS',
    '',
  ].join('\r\n'),
);
// 7-byte reads: replies split mid-line and mid-CRLF, as a slow network delivers them.
const pieces: Buffer[] = [];
for (let i = 0; i < hundred.length; i += 7) pieces.push(hundred.subarray(i, i + 7));

describe('ReplyParser.push', () => {
  bench('100 pipelined transactions (400 replies) in one chunk', () => {
    new ReplyParser().push(hundred);
  });
  bench('one transaction (4 replies) per chunk', () => {
    const parser = new ReplyParser();
    for (let i = 0; i < 100; i++) parser.push(transaction);
  });
  bench('the same bytes in 7-byte reads', () => {
    const parser = new ReplyParser();
    for (const piece of pieces) parser.push(piece);
  });
  bench('a 10-line EHLO reply', () => {
    new ReplyParser().push(ehlo);
  });
});
