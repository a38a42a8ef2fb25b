/**
 * A raw `node:net` SMTP server of our own, for faults the scripted server cannot express: a reset in
 * the middle of a TLS handshake, a drop after N octets of a body, a server that stops reading.
 * Each command line goes to `onLine`, which writes what it likes; in DATA mode the bytes go to `onData`.
 */
import net from 'node:net';

export interface RawSession {
  socket: net.Socket;
  /** Lines received outside DATA mode, CRLF removed. */
  lines: string[];
  /** Octets received in DATA mode. */
  dataBytes: number;
  /** Switch to DATA mode (after writing 354). */
  enterData(): void;
}

export interface RawServerOptions {
  capabilities?: string[];
  /** Return true when the line was handled; otherwise the default reply is sent. */
  onLine?: (line: string, session: RawSession) => boolean;
  /** Called with each chunk received in DATA mode. */
  onData?: (chunk: Buffer, session: RawSession) => void;
}

export interface RawServer {
  port: number;
  sessions: RawSession[];
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1, port 0. Default replies: 250 to everything, 354 to DATA, 221 to QUIT. */
export async function startRawServer(options: RawServerOptions = {}): Promise<RawServer> {
  const sessions: RawSession[] = [];
  const sockets = new Set<net.Socket>();
  const caps = options.capabilities ?? ['PIPELINING', '8BITMIME'];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let inData = false;
    let pending = '';
    const session: RawSession = {
      socket,
      lines: [],
      dataBytes: 0,
      enterData: () => {
        inData = true;
      },
    };
    sessions.push(session);
    socket.write('220 raw.test ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      if (inData) {
        session.dataBytes += chunk.length;
        options.onData?.(chunk, session);
        return;
      }
      pending += chunk.toString('latin1');
      let nl = pending.indexOf('\n');
      while (nl !== -1 && !inData) {
        const line = pending.slice(0, nl).replace(/\r$/, '');
        pending = pending.slice(nl + 1);
        session.lines.push(line);
        if (!options.onLine?.(line, session)) defaultReply(line, session, caps);
        nl = pending.indexOf('\n');
      }
      if (inData && pending.length > 0) {
        const rest = Buffer.from(pending, 'latin1');
        pending = '';
        session.dataBytes += rest.length;
        options.onData?.(rest, session);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sessions,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function defaultReply(line: string, session: RawSession, caps: string[]): void {
  const verb = line.split(' ')[0]!.toUpperCase();
  const w = (text: string): void => void session.socket.write(text);
  if (verb === 'EHLO') {
    const all = ['raw.test', ...caps];
    w(all.map((c, i) => `250${i === all.length - 1 ? ' ' : '-'}${c}\r\n`).join(''));
  } else if (verb === 'DATA') {
    w('354 go on\r\n');
    session.enterData();
  } else if (verb === 'QUIT') {
    w('221 bye\r\n');
    session.socket.end();
  } else w('250 ok\r\n');
}
