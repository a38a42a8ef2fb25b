/**
 * Every message feature of issue 12 at once, end to end: sendMessage through real servers
 * (aiosmtpd and Postfix from the conformance harness), the message read back from the spool, then by the
 * independent readers (Python email compat32 + default, mailparser, ripmime). Address objects, a
 * Reply-To list, Bcc (envelope only), priority, list headers with RFC 8058 one-click unsubscribe,
 * icalEvent, an AMP alternative, attachments from a Buffer, a base64 string, a Readable and a file
 * path with a non-ASCII name, inline disposition, per-part headers, and the date.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpProtocolHandler } from '../../src/send/handler.js';
import {
  availableServers,
  type RealServer,
  startServer,
  stripAddedHeaders,
  toCrlf,
} from '../conformance/servers/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { PythonReader, RIPMIME, readWithMailparser, readWithRipmime, SYSTEM_PYTHON, unavailable } from './readers.js';

/** Two real servers: aiosmtpd stores exactly what it received; Postfix goes through its queue and cleanup(8). */
const servers = (await availableServers()).filter((s) => s.name === 'aiosmtpd' || s.name === 'postfix');
const pythonMissing = await unavailable(SYSTEM_PYTHON);
const ripmimeMissing = await unavailable(RIPMIME);

const ICS = [
  'BEGIN:VCALENDAR',
  'VERSION:2.0',
  'PRODID:-//smtpwire//test//EN',
  'METHOD:REQUEST',
  'BEGIN:VEVENT',
  'UID:1@example.com',
  'DTSTAMP:20260101T000000Z',
  'DTSTART:20260102T100000Z',
  'SUMMARY:Réunion d’équipe',
  'ORGANIZER:mailto:sender@test.example',
  'END:VEVENT',
  'END:VCALENDAR',
  '',
].join('\r\n');
const AMP = '<!doctype html><html ⚡4email><head><meta charset="utf-8"></head><body>Hallo</body></html>';
const PDF = Buffer.from('%PDF-1.4\n%\xe4\xfc\xf6\xdf\n', 'latin1');
const STREAMED = Buffer.alloc(5000, 'streamed ');
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2]);
const DATE = new Date(Date.UTC(2026, 10, 30, 9, 30, 0));
const FILE_NAME = 'Überblick; "Q3" 报告 — Ελληνικά отчёт 😀.pdf';

for (const entry of servers)
  describe(`message features through ${entry.name} and every reader`, () => {
    if (!entry.available) {
      reportUnavailable(entry);
      return;
    }
    if (pythonMissing !== null)
      reportUnavailable({ name: 'python3 (email package)', available: false, reason: pythonMissing });
    if (ripmimeMissing !== null) reportUnavailable({ name: 'ripmime', available: false, reason: ripmimeMissing });

    let server: RealServer;
    let dir: string;
    let python: PythonReader | null = null;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'smtpwire-features-'));
      server = await startServer(entry.name);
      if (pythonMissing === null) python = new PythonReader();
    });
    afterAll(async () => {
      await python?.close();
      await server?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('sends every feature and each reader reads back what was given', async () => {
      const pdfPath = join(dir, 'source.pdf');
      await writeFile(pdfPath, PDF);
      const handler = new SmtpProtocolHandler({
        hostname: server.host,
        port: server.port,
        encryption: 'tls',
        tls: { ca: server.tls.ca, servername: server.tls.servername },
        poolSize: 1,
        retryPolicy: { maxRetries: 0 },
      });
      let result: Awaited<ReturnType<SmtpProtocolHandler['sendMessage']>>;
      try {
        result = await handler.sendMessage({
          fromAddress: { name: 'Sender, S. "the boss"', address: 'sender@test.example' },
          toAddresses: [{ name: 'Zoë Ünïcödé', address: 'zoe@test.example' }, 'a@test.example', 'B <b@test.example>'],
          ccAddresses: [{ address: 'cc@test.example' }],
          bccAddresses: [{ name: 'Hidden', address: 'bcc@test.example' }],
          replyTo: [{ name: 'Replies, Desk', address: 'replies@test.example' }, 'other@test.example'],
          subject: 'Einladung: Réunion d’équipe — 会议 📅',
          textBody: 'Plain text, with ünïcödé.\n',
          htmlBody: '<p>HTML with <img src="cid:logo@test.example"></p>',
          alternatives: [{ contentType: 'text/x-amp-html', content: AMP }],
          icalEvent: { content: ICS, filename: 'einladung.ics' },
          priority: 'high',
          list: {
            id: { id: 'news.test.example', name: 'News, Test' },
            unsubscribe: {
              url: 'https://test.example/u?l=news&id=42',
              mail: 'unsubscribe@test.example',
              oneClick: true,
            },
            help: 'https://test.example/help',
          },
          date: DATE,
          attachments: [
            { filename: 'logo.png', content: PNG, cid: 'logo@test.example' },
            { filename: FILE_NAME, path: pdfPath, headers: { 'X-Attachment-Id': 'pdf-1' } },
            { filename: 'stream.txt', content: Readable.from([STREAMED.subarray(0, 1234), STREAMED.subarray(1234)]) },
            { filename: 'data.bin', content: Buffer.from([0, 1, 2, 3]).toString('base64'), encoding: 'base64' },
            { filename: 'shown.txt', content: 'shown inline', contentDisposition: 'inline' },
          ],
        });
      } finally {
        await handler.close();
      }
      expect(result.status, String(result.smtpError)).toBe('success');
      const [delivered] = await server.waitForMessages(1);
      // Bcc is an envelope recipient only: it appears in no header.
      expect([...delivered!.recipients].sort()).toEqual(
        ['zoe@test.example', 'a@test.example', 'b@test.example', 'cc@test.example', 'bcc@test.example'].sort(),
      );
      expect(delivered!.sender).toBe('sender@test.example');
      const raw = stripAddedHeaders(toCrlf(delivered!.raw), server.addedHeaders);
      expect(raw.toString('latin1')).not.toMatch(/^Bcc:|Hidden/im);
      const path = join(dir, 'delivered.eml');
      await writeFile(path, raw);

      const expectedParts = [
        ['text/plain', null],
        ['text/x-amp-html', null],
        ['text/html', null],
        ['text/calendar', null],
        ['image/png', 'logo.png'],
        ['application/ics', 'einladung.ics'],
        ['application/pdf', FILE_NAME],
        ['text/plain', 'stream.txt'],
        ['application/octet-stream', 'data.bin'],
        ['text/plain', 'shown.txt'],
      ];
      const bytesOf: Record<string, Buffer> = {
        'logo.png': PNG,
        'einladung.ics': Buffer.from(ICS),
        [FILE_NAME]: PDF,
        'stream.txt': STREAMED,
        'data.bin': Buffer.from([0, 1, 2, 3]),
        'shown.txt': Buffer.from('shown inline'),
      };

      if (python !== null) {
        const views = await python.read(path);
        for (const [policy, view] of [
          ['compat32', views.compat32],
          ['default', views.default],
        ] as const) {
          const at = `python ${policy}`;
          expect(view.headers.subject, at).toBe('Einladung: Réunion d’équipe — 会议 📅');
          expect(view.headers['x-priority'], at).toBe('1 (Highest)');
          expect(view.headers.importance, at).toBe('High');
          expect(view.headers['x-msmail-priority'], at).toBe('High');
          expect(view.headers['list-id'], at).toBe('"News, Test" <news.test.example>');
          expect(view.headers['list-unsubscribe'], at).toBe(
            '<https://test.example/u?l=news&id=42>, <mailto:unsubscribe@test.example>',
          );
          expect(view.headers['list-unsubscribe-post'], at).toBe('List-Unsubscribe=One-Click');
          expect(view.headers['list-help'], at).toBe('<https://test.example/help>');
          expect(view.headers.date, at).toBe('Mon, 30 Nov 2026 09:30:00 +0000');
          expect(view.addresses, at).toEqual({
            from: [['Sender, S. "the boss"', 'sender@test.example']],
            to: [
              ['Zoë Ünïcödé', 'zoe@test.example'],
              ['', 'a@test.example'],
              ['B', 'b@test.example'],
            ],
            cc: [['', 'cc@test.example']],
            'reply-to': [
              ['Replies, Desk', 'replies@test.example'],
              ['', 'other@test.example'],
            ],
          });
          expect(
            view.parts.map((p) => [p.contentType, p.filename]),
            at,
          ).toEqual(expectedParts);
          const calendar = view.parts.find((p) => p.contentType === 'text/calendar')!;
          expect(calendar.method, at).toBe('REQUEST');
          expect(Buffer.from(calendar.data, 'base64').toString('utf8'), at).toBe(ICS);
          const amp = view.parts.find((p) => p.contentType === 'text/x-amp-html')!;
          expect([amp.charset, Buffer.from(amp.data, 'base64').toString('utf8')], at).toEqual(['utf-8', AMP]);
          for (const p of view.parts) {
            if (p.filename !== null)
              expect(Buffer.from(p.data, 'base64').equals(bytesOf[p.filename]!), `${at} ${p.filename}`).toBe(true);
          }
          expect(
            view.parts.map((p) => p.disposition),
            at,
          ).toEqual([
            null,
            null,
            null,
            null,
            'inline',
            'attachment',
            'attachment',
            'attachment',
            'attachment',
            'inline',
          ]);
        }
      }

      const mp = await readWithMailparser(raw);
      expect(mp.subject).toBe('Einladung: Réunion d’équipe — 会议 📅');
      expect(mp.headers.get('priority')).toBe('high');
      expect(mp.addresses.from).toEqual([['Sender, S. "the boss"', 'sender@test.example']]);
      expect(mp.addresses['reply-to']).toEqual([
        ['Replies, Desk', 'replies@test.example'],
        ['', 'other@test.example'],
      ]);
      expect(mp.addresses.to).toEqual([
        ['Zoë Ünïcödé', 'zoe@test.example'],
        ['', 'a@test.example'],
        ['B', 'b@test.example'],
      ]);
      expect((mp.headers.get('date') as Date).toISOString()).toBe(DATE.toISOString());
      const list = mp.headers.get('list') as Record<string, { url?: string; mail?: string; id?: string }>;
      expect(list.unsubscribe).toMatchObject({
        url: 'https://test.example/u?l=news&id=42',
        mail: 'unsubscribe@test.example',
      });
      expect(list.id).toMatchObject({ id: 'news.test.example' });
      const byName = new Map(mp.attachments.map((a) => [a.filename, a]));
      for (const [name, bytes] of Object.entries(bytesOf)) {
        // An inline text part is shown as text: mailparser appends it to the text body.
        if (name === 'shown.txt') expect(mp.text).toContain('shown inline');
        else expect(byName.get(name)?.data.equals(bytes), `mailparser ${name}`).toBe(true);
      }
      expect(byName.get('logo.png')?.cid).toBe('logo@test.example');
      expect(byName.get(FILE_NAME)?.contentType).toBe('application/pdf');

      if (ripmimeMissing === null) {
        const files = await readWithRipmime(path, join(dir, 'ripmime'));
        for (const [name, bytes] of Object.entries(bytesOf)) {
          const file = files.get(Buffer.from(name).toString('latin1'));
          expect(file?.equals(bytes), `ripmime ${name} (found ${[...files.keys()].length} files)`).toBe(true);
        }
      }
    }, 60_000);
  });
