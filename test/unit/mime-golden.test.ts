/**
 * Golden files: typical messages built in deterministic mode, compared byte for byte with
 * fixtures/messages/*.eml. Regenerate after an intended change with
 * `UPDATE_GOLDEN=1 npx vitest run test/unit/mime-golden.test.ts` and review the diff. Without the flag a
 * missing golden fails the test.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type BuildMessageOptions, buildMessage } from '../../src/message/mime/index.js';

const DIR = fileURLToPath(new URL('../../fixtures/messages/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const common = {
  fromAddress: 'Alice Example <alice@example.com>',
  toAddresses: ['Bob <bob@example.org>'],
  deterministic: true,
} satisfies Partial<BuildMessageOptions>;

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

const cases: Record<string, BuildMessageOptions> = {
  'plain-text': {
    ...common,
    subject: 'Lunch tomorrow?',
    textBody: 'Hi Bob,\n\nAre you free for lunch tomorrow at noon?\n\n.\nFrom Alice\n',
  },
  'unicode-alternative': {
    ...common,
    toAddresses: ['"Doe, John" <john@example.org>', 'Zoë Ünïcödé <zoe@example.org>'],
    ccAddresses: ['carol@example.net'],
    bccAddresses: ['audit@example.com'],
    replyTo: 'replies@example.com',
    subject: 'Grüße aus Köln — Ihre Bestellung Nr. 12345 wurde versandt und kommt bald an 📦',
    textBody: `Hallo,\r\nIhre Bestellung wurde versandt.\r\nViele Grüße\r\n${'Eine sehr lange Zeile '.repeat(6)}`,
    htmlBody: '<p>Hallo,</p>\n<p>Ihre Bestellung wurde <b>versandt</b>.</p>\n<p>Viele Grüße</p>\n',
    customHeaders: { 'X-Campaign': 'autumn-2024', 'X-Note': 'naïve café' },
  },
  'related-and-attachments': {
    ...common,
    subject: 'Report with logo',
    textBody: 'See the attached report.',
    htmlBody: '<p><img src="cid:logo@example.com" alt="logo"> See the attached report.</p>',
    attachments: [
      { filename: 'logo.png', content: PNG, cid: 'logo@example.com' },
      { filename: 'report.csv', content: 'id,value\r\n1,42\r\n' },
      {
        filename: 'Überblick Quartalsbericht 2024 – vollständige Fassung mit Anhängen.pdf',
        data: 'JVBERi0xLjQKJcOkw7zDtsOfCg==',
      },
    ],
  },
};

describe('golden messages (deterministic mode)', () => {
  for (const [name, options] of Object.entries(cases)) {
    it(name, async () => {
      const bytes = await buildMessage(options).toBuffer();
      const file = `${DIR}${name}.eml`;
      if (UPDATE) writeFileSync(file, bytes);
      // A missing golden is a failure, never written and then compared with itself.
      expect(existsSync(file), `${file} is missing: regenerate with UPDATE_GOLDEN=1 and review it`).toBe(true);
      expect(bytes.equals(readFileSync(file))).toBe(true);
    });
  }
});
