/** A raw outbox job whose base64 is corrupt is INVALID, never sent as a truncated or empty message (issue 23). */
import { describe, expect, it } from 'vitest';
import { JOB_DATA_VERSION, readJobData } from '../../src/outbox/job-data.js';

const job = (base64: string) => ({
  v: JOB_DATA_VERSION,
  kind: 'raw',
  envelope: { from: 'a@x.example', to: ['b@x.example'] },
  raw: { base64 },
  messageId: null,
});

describe('raw job base64', () => {
  it('valid base64 is read as its bytes', () => {
    const bytes = Buffer.from([0xff, 0x00, 0x41, 0x0d, 0x0a]);
    const data = readJobData(job(bytes.toString('base64')));
    expect(data).toMatchObject({ kind: 'raw' });
    expect((data as { raw: Buffer }).raw.equals(bytes)).toBe(true);
  });

  it.each(['!!!!', 'QUJD?', 'QUJ', '', 'QU JD', 'QUJD=='])('%j is INVALID', (b64) => {
    expect(readJobData(job(b64))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/base64/) });
  });
});
