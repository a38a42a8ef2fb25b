"""aiosmtpd's LMTP server (aiosmtpd.lmtp.LMTP) for the LMTP suite, run by aiosmtpd-lmtp.ts.

Protocol with the parent:
  stdin line 1: JSON config {spool, hostname}
  stdout:       one JSON line {"ready": true, "port": P} once bound on 127.0.0.1
  stdin EOF:    close the listener and exit 0.

Mailbox rules, by local part: "nobody" is refused at RCPT (550 5.1.1); "full" gets
552 5.2.2 after the data; "busy" gets 452 4.2.2 after the data; anyone else is
delivered: SPOOL/<id>.<local part>.eml with the bytes as received (CRLF).
handle_DATA returns one status line per accepted recipient, in RCPT order
(RFC 2033 section 4.2), joined by CRLF, which is how aiosmtpd's LMTP answers.
"""
import asyncio
import json
import logging
import os
import sys
import threading
import time

from aiosmtpd.lmtp import LMTP


class MailboxHandler:
    def __init__(self, spool):
        self.spool = spool
        self.counter = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split('@')[0].lower() == 'nobody':
            return '550 5.1.1 <%s> User unknown' % address
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        self.counter += 1
        replies = []
        for rcpt in envelope.rcpt_tos:
            local = rcpt.split('@')[0].lower()
            if local == 'full':
                replies.append('552 5.2.2 <%s> Mailbox full' % rcpt)
            elif local == 'busy':
                replies.append('452 4.2.2 <%s> Mailbox busy' % rcpt)
            else:
                name = '%020d-%d-%d.%s.eml' % (time.time_ns(), os.getpid(), self.counter, local)
                tmp = os.path.join(self.spool, '.' + name + '.tmp')
                with open(tmp, 'wb') as f:
                    f.write(envelope.original_content)
                os.rename(tmp, os.path.join(self.spool, name))
                replies.append('250 2.0.0 <%s> Delivered' % rcpt)
        return '\r\n'.join(replies)


async def serve(config):
    loop = asyncio.get_running_loop()
    handler = MailboxHandler(config['spool'])
    server = await loop.create_server(
        lambda: LMTP(handler, hostname=config['hostname'], decode_data=False, loop=loop),
        host='127.0.0.1', port=0)
    sys.stdout.write(json.dumps({'ready': True, 'port': server.sockets[0].getsockname()[1]}) + '\n')
    sys.stdout.flush()
    stop = asyncio.Event()

    def wait_for_eof():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    config = json.loads(sys.stdin.buffer.readline())
    asyncio.run(serve(config))
    return 0


if __name__ == '__main__':
    sys.exit(main())
