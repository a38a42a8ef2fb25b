"""Postfix pipe(8) delivery target: store one message in a spool directory.

master.cf runs it as (null_sender= so that MAIL FROM:<> stays empty):
  python3 spool_pipe.py SPOOL_DIR from=${sender} proto=${client_protocol}
                        auth=${sasl_username} ${recipient}...
one invocation per message, with every envelope recipient of that delivery. The
prefixes keep an empty value from vanishing as an empty argument.
The message arrives on stdin as Postfix stores it (LF line endings).

Writes SPOOL_DIR/ID.eml (the bytes) and then SPOOL_DIR/ID.json (the envelope);
the .json is the commit marker that test/conformance/servers/spool.ts looks for.
Both are renamed into place, so a reader never sees half a file.
"""
import datetime
import json
import os
import sys
import time


def main():
    spool = sys.argv[1]
    fields = {}
    for arg in sys.argv[2:5]:
        key, _, value = arg.partition('=')
        fields[key] = value
    recipients = sys.argv[5:]
    sender = fields.get('from', '')
    data = sys.stdin.buffer.read()
    msg_id = '%020d-%d' % (time.time_ns(), os.getpid())
    meta = {
        'id': msg_id,
        'sender': sender,
        'recipients': recipients,
        'receivedAt': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'lineEnding': 'lf',
        # SMTP or ESMTP (HELO or EHLO): Postfix's client_protocol says nothing about TLS.
        'protocol': fields.get('proto', ''),
        'authUser': fields.get('auth') or None,
    }
    for suffix, payload in (('.eml', data), ('.json', json.dumps(meta).encode('utf-8'))):
        tmp = os.path.join(spool, '.' + msg_id + suffix + '.tmp')
        with open(tmp, 'wb') as f:
            f.write(payload)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(spool, msg_id + suffix))
    return 0


if __name__ == '__main__':
    sys.exit(main())
