"""aiosmtpd conformance server, run by aiosmtpd.ts with the Debian /usr/bin/python3.

Protocol with the parent (so no secret travels in argv):
  stdin line 1: JSON config {spool, cert, key, users: [{username, password}],
                sizeLimit, refusedRecipient, hostname}
  stdout:       one JSON line {"ready": true, "port": P, "tlsPort": Q} once both
                listeners are bound on 127.0.0.1 (ports chosen by the kernel)
  stdin EOF:    close the listeners and exit 0 (also when the parent dies).
Logs go to stderr.

Two listeners: P offers STARTTLS, Q is implicit TLS (RFC 8314). Both offer
AUTH PLAIN and LOGIN (also without TLS: the suite runs on loopback only),
SMTPUTF8, 8BITMIME and SIZE. aiosmtpd has no CHUNKING and does not advertise
PIPELINING. Each message is written as SPOOL/ID.eml (bytes as received after
dot-unstuffing, CRLF line endings) plus SPOOL/ID.json (envelope), the .json last.
"""
import asyncio
import datetime
import json
import logging
import os
import ssl
import sys
import threading
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger('smtpwire.aiosmtpd')


class SpoolHandler:
    def __init__(self, spool, refused):
        self.spool = spool
        self.refused = refused.lower()
        self.counter = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() == self.refused:
            return '550 5.1.1 Recipient refused (smtpwire conformance)'
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        self.counter += 1
        msg_id = '%020d-%d-%d' % (time.time_ns(), os.getpid(), self.counter)
        auth = session.auth_data
        meta = {
            'id': msg_id,
            # aiosmtpd keeps the null reverse-path as the literal '<>'; the spool format says ''.
            'sender': '' if envelope.mail_from == '<>' else envelope.mail_from,
            'recipients': list(envelope.rcpt_tos),
            'receivedAt': datetime.datetime.now(datetime.timezone.utc).isoformat(),
            'lineEnding': 'crlf',
            'mailOptions': list(envelope.mail_options),
            'tls': session.ssl is not None,
            'authUser': auth.login.decode('utf-8', 'replace') if isinstance(auth, LoginPassword) else None,
        }
        for suffix, payload in (('.eml', envelope.original_content),
                                ('.json', json.dumps(meta).encode('utf-8'))):
            tmp = os.path.join(self.spool, '.' + msg_id + suffix + '.tmp')
            with open(tmp, 'wb') as f:
                f.write(payload)
            os.rename(tmp, os.path.join(self.spool, msg_id + suffix))
        return '250 2.0.0 OK queued as ' + msg_id


def make_authenticator(users):
    table = {u['username'].encode('utf-8'): u['password'].encode('utf-8') for u in users}

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login in table
              and table[auth_data.login] == auth_data.password)
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        # handled defaults to True, which means "I already replied": without
        # handled=False a failed AUTH gets no reply at all.
        return AuthResult(success=False, handled=False)

    return authenticator


async def serve(config):
    loop = asyncio.get_running_loop()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(config['cert'], config['key'])
    handler = SpoolHandler(config['spool'], config['refusedRecipient'])
    authenticator = make_authenticator(config['users'])

    def factory(starttls):
        return SMTP(
            handler,
            hostname=config['hostname'],  # never socket.getfqdn(): no DNS
            data_size_limit=config['sizeLimit'],
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=tls if starttls else None,
            auth_require_tls=False,
            authenticator=authenticator,
            loop=loop,
        )

    plain = await loop.create_server(lambda: factory(True), host='127.0.0.1', port=0)
    implicit = await loop.create_server(lambda: factory(False), host='127.0.0.1', port=0, ssl=tls)
    ready = {
        'ready': True,
        'port': plain.sockets[0].getsockname()[1],
        'tlsPort': implicit.sockets[0].getsockname()[1],
    }
    sys.stdout.write(json.dumps(ready) + '\n')
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
    for server in (plain, implicit):
        server.close()
    for server in (plain, implicit):
        await server.wait_closed()


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    config = json.loads(sys.stdin.buffer.readline())
    asyncio.run(serve(config))
    return 0


if __name__ == '__main__':
    sys.exit(main())
