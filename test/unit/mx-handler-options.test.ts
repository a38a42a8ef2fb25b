/** SmtpMxHandler's checks before anything is resolved or sent. */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpDeliveryStatus } from '../../src/enums.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { SmtpMxHandler } from '../../src/mx/handler.js';

const handlers: SmtpMxHandler[] = [];
afterEach(async () => {
  await Promise.all(handlers.splice(0).map((h) => h.close()));
});
const make = (o: ConstructorParameters<typeof SmtpMxHandler>[0]) => {
  const h = new SmtpMxHandler({ resolver: { servers: ['127.0.0.1:9'] }, ...o });
  handlers.push(h);
  return h;
};

describe('SmtpMxHandler options', () => {
  it.each([
    [{ hostname: 'x' }, /unknown option 'hostname'/],
    [{ clientNme: 'x' }, /did you mean 'clientName'/],
    [{ transport: 'smtp' }, /transport must be 'mx'/],
    [{ port: 0 }, /port/],
    [{ clientName: 'a\r\nMAIL FROM:<x>' }, /clientName|CR|LF/],
    [{ localAddress: 'not-an-ip' }, /localAddress/],
    [{ mtaSts: { prot: 1 } }, /mtaSts/],
    [{ resolver: { servers: ['dns.example'] } }, /not an address/],
  ])('%j is refused', (opts, why) => {
    expect(() => make(opts as never)).toThrow(InvalidArgumentError);
    expect(() => make(opts as never)).toThrow(why);
  });

  it('an unknown sendMessage key is INVALID, nothing resolved', async () => {
    const r = await make({}).sendMessage({
      toAddresses: ['a@example.com'],
      subject: 's',
      textBody: 't',
      fromAddress: 'b@example.com',
      subjct: 'x',
    } as never);
    expect(r.status).toBe(SmtpDeliveryStatus.INVALID);
    expect(r.smtpError).toMatch(/subjct/);
  });

  it('a one-shot stream cannot go to two domains', async () => {
    const r = await make({}).sendRaw(
      { from: 'a@example.com', to: ['x@one.example', 'y@two.example'] },
      Readable.from(['Subject: s\r\n\r\nbody\r\n']),
    );
    expect(r.status).toBe(SmtpDeliveryStatus.INVALID);
    expect(r.smtpError).toMatch(/one domain/);
  });
});
