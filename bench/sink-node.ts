/** smtp-server as a discard sink in its own process: `node --import tsx sink-node.ts PORT [STALL_MS]`. */
import { SMTPServer } from 'smtp-server';

const port = Number(process.argv[2]);
const stallMs = Number(process.argv[3] ?? 0);
const server = new SMTPServer({
  logger: false,
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  size: 0,
  onData(stream, _session, cb) {
    let stalled = stallMs > 0;
    if (stalled) {
      stream.pause();
      setTimeout(() => {
        stalled = false;
        stream.resume();
      }, stallMs);
    }
    stream.on('data', () => {});
    stream.on('end', () => cb(null, 'OK'));
  },
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
