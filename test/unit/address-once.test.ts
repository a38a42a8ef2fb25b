/**
 * "Every address parsed once": the grammar (address-parser.ts's Parser) is counted while whole sends
 * run through the handler (prepare, limits, headers, envelope, transaction plan, results), so a second
 * parse anywhere on the path fails this test.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const counter = vi.hoisted(() => ({ parses: 0, inputs: [] as string[] }));

vi.mock('../../src/message/address-parser.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/message/address-parser.js')>();
  class CountingParser extends original.Parser {
    constructor(input: string, strict?: boolean) {
      super(input, strict);
      counter.parses++;
      counter.inputs.push(input);
    }
  }
  return { ...original, Parser: CountingParser };
});

const { SmtpProtocolHandler } = await import('../../src/index.js');
const { startScriptedServer } = await import('../../src/testing/index.js');

let server: Awaited<ReturnType<typeof startScriptedServer>>;
beforeAll(async () => {
  server = await startScriptedServer();
});
afterAll(async () => {
  await server.close();
});

function handler() {
  return new SmtpProtocolHandler({ hostname: '127.0.0.1', port: server.port, encryption: 'none', poolSize: 1 });
}

function counted<T>(run: () => Promise<T>): Promise<{ result: T; parses: number; inputs: string[] }> {
  counter.parses = 0;
  counter.inputs = [];
  return run().then((result) => ({ result, parses: counter.parses, inputs: counter.inputs }));
}

describe('one grammar parse per address per send', () => {
  it('sendMessage with 5 mailboxes (IDN, display names, a group): 5 parses, then none for the same texts', async () => {
    const h = handler();
    const message = {
      fromAddress: '"Doe, Jane" <jane@bücher.example>',
      toAddresses: ['to@example.com', 'Team: t1@example.com, t2@example.com;'],
      ccAddresses: [{ name: 'Cc Person', address: 'cc@example.com' }],
      bccAddresses: ['bcc@example.org'],
      replyTo: 'reply@example.net',
      subject: 'once',
      textBody: 'hello',
    };
    try {
      const first = await counted(() => h.sendMessage(message));
      expect(first.result.status).toBe('success');
      // One Parser per address input (the group is one input); the object form parses its address.
      expect(first.inputs.sort()).toEqual(
        [
          '"Doe, Jane" <jane@bücher.example>',
          'to@example.com',
          'Team: t1@example.com, t2@example.com;',
          'cc@example.com',
          'bcc@example.org',
          'reply@example.net',
        ].sort(),
      );
      const second = await counted(() => h.sendMessage(message));
      expect(second.result.status).toBe('success');
      // The handler's cache has every text; the object form is parsed again (one parse, as the value is new).
      expect(second.inputs).toEqual(['cc@example.com']);
      const received = server.messages.at(-1)!;
      expect(received.rcptTo).toContain('t2@example.com');
      expect(received.mailFrom).toBe('jane@xn--bcher-kva.example');
    } finally {
      await h.close();
    }
  });

  it('sendRaw: one parse per envelope address on the first send, none on the next', async () => {
    const h = handler();
    const env = { from: 'a@bücher.example', to: ['b@example.com', 'C <c@bücher.example>'] };
    const raw = 'Subject: raw\r\nMessage-ID: <r@x>\r\n\r\nbody\r\n';
    try {
      const first = await counted(() => h.sendRaw(env, raw));
      expect(first.result.status).toBe('success');
      expect(first.parses).toBe(3);
      const second = await counted(() => h.sendRaw(env, raw));
      expect(second.result.status).toBe('success');
      expect(second.parses).toBe(0);
      expect(second.result.acceptedRecipients).toEqual(['b@example.com', 'c@bücher.example']);
    } finally {
      await h.close();
    }
  });
});
