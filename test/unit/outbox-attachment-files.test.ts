/**
 * The outbox worker's job files (src/outbox/attachment-files.ts): job data is untrusted, so a path naming a
 * FIFO must be refused at once, never left waiting for a writer (a worker's open would hang for good).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openJobFiles } from '../../src/outbox/attachment-files.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'smtpwire-job-files-')));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('openJobFiles', () => {
  it('refuses a FIFO under the root at once (no wait for a writer); reads a regular file', async () => {
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const opening = openJobFiles({ messageId: '<f@example.com>', attachments: [{ path: fifo }] }, root);
    const late = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 2000));
    const outcome = await Promise.race([opening, late]);
    if (outcome === 'hung') closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    expect(outcome).toEqual({ ok: false, reason: 'attachments[0].path refused: it is not a regular file' });

    const file = join(root, 'a.txt');
    writeFileSync(file, 'hello');
    const opened = await openJobFiles({ messageId: '<a@example.com>', alternatives: [{ path: file }] }, root);
    expect(opened.ok).toBe(true);
    if (opened.ok) {
      const [alt] = opened.message.alternatives as { content: Buffer }[];
      expect(alt!.content.toString()).toBe('hello');
      await opened.close();
    }
  });
});
