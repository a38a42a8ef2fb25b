/**
 * The compatibility suite (issue 21): every example program runs with `nodemailer` and with
 * `smtpwire/nodemailer` against identical servers; the envelope, the message as mailparser reads
 * it, the `info` object and the error fields must be equal. The deliberate differences are the
 * README's "Coming from nodemailer" table; each has its own assertion below.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connectionExamples, deliberateExamples } from './examples-connection.js';
import { errorExamples, requireTlsExample } from './examples-errors.js';
import { fieldExamples } from './examples-fields.js';
import { transportExamples } from './examples-transport.js';
import { type Example, errorView, mine, real, removeScratch, runWith, view } from './harness.js';

afterAll(removeScratch);

const examples: Example[] = [...transportExamples, ...connectionExamples, ...fieldExamples, ...errorExamples];

describe('nodemailer example programs: nodemailer and smtpwire/nodemailer behave the same', () => {
  for (const example of examples) {
    it(`${example.kind}: ${example.name}`, async () => {
      const theirs = await view(example, await runWith(real, example));
      const ours = await view(example, await runWith(mine, example));
      expect(ours).toEqual(theirs);
    });
  }
});

describe('deliberate differences (README "Coming from nodemailer")', () => {
  const [silentAfterData] = deliberateExamples;
  it('a reply lost after the final dot: nodemailer says ETIMEDOUT, smtpwire ERR_SMTP_OUTCOME_UNKNOWN with messageHandedOver', async () => {
    const example = silentAfterData!;
    const theirs = await runWith(real, example);
    const ours = await runWith(mine, example);
    expect(errorView(theirs.error)).toMatchObject({ code: 'ETIMEDOUT' });
    expect(errorView(ours.error)).toMatchObject({ code: 'ERR_SMTP_OUTCOME_UNKNOWN', command: 'DATA' });
    expect(ours.error).toMatchObject({ messageHandedOver: true });
  });

  it('requireTLS and no STARTTLS offered: both ETLS at STARTTLS; smtpwire does not send the command, so there is no reply', async () => {
    const theirs = await runWith(real, requireTlsExample);
    const ours = await runWith(mine, requireTlsExample);
    expect(errorView(theirs.error)).toMatchObject({ code: 'ETLS', command: 'STARTTLS', responseCode: 500 });
    expect(errorView(ours.error)).toEqual({ isError: true, code: 'ETLS', command: 'STARTTLS' });
    expect(ours.messages).toHaveLength(0);
  });
});
