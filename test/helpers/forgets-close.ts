/**
 * Child process for test/integration/defaults.test.ts: sends one message through the handler and
 * forgets close(). It must exit by itself, with the connection parked in the pool.
 */
import { SmtpProtocolHandler } from '../../src/index.js';

const port = Number(process.argv[2]);
const handler = new SmtpProtocolHandler({ hostname: '127.0.0.1', port, encryption: 'none' });
const result = await handler.sendMessage({
  fromAddress: 'a@example.com',
  toAddresses: ['b@example.com'],
  subject: 'forgot close',
  textBody: 'body',
});
console.log(`sent ${result.status} parked=${handler.pool.getStats().idle}`);
