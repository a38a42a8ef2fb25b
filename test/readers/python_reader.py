"""Reads MIME messages with Python's standard `email` package, for the reader matrix.

JSON lines in, JSON lines out: each input line is {"id": ..., "path": "<.eml file>"}; each output line
is {"id": ..., "compat32": view, "default": view} or {"id": ..., "error": "..."}. One process reads
every message of a run, so the interpreter starts once. Standard library only (/usr/bin/python3).

A view is what a program using that policy would see, decoded the way that policy's users decode:
  headers: {lower-case name: decoded value} for the unstructured fields,
  addresses: {from|to|cc|reply-to: [[name, address], ...]} (groups flattened),
  groups: {to|cc: [[group name or null, [[name, address], ...]], ...]} (default policy only),
  parts: every leaf part in order: content type, charset, file name (get_filename()), the
         Content-Type name parameter, Content-ID, disposition, decoded bytes (base64).
"""
import base64
import email
import email.policy
import email.utils
import json
import re
import sys
from email.header import decode_header, make_header

ADDRESS_FIELDS = ("from", "to", "cc", "reply-to")


def compat32_text(value):
    """compat32 hands back raw, folded header text; its users unfold it (RFC 5322 2.2.3) and
    decode RFC 2047 with email.header."""
    if value is None:
        return None
    return str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", str(value)))))


def compat32_view(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = {}
    for name, value in msg.items():
        key = name.lower()
        if key in ADDRESS_FIELDS or key.startswith("content-"):
            continue
        headers[key] = compat32_text(value)
    addresses = {}
    for key in ADDRESS_FIELDS:
        values = msg.get_all(key)
        if values:
            # Split first, then decode each name: decoding first would expose a comma in a name.
            addresses[key] = [[compat32_text(n), a] for n, a in email.utils.getaddresses(values)]
    return {"headers": headers, "addresses": addresses, "groups": None, "parts": parts(msg, compat32_text)}


def default_view(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers = {}
    for name, value in msg.items():
        key = name.lower()
        if key in ADDRESS_FIELDS or key.startswith("content-"):
            continue
        headers[key] = str(value)
    addresses = {}
    groups = {}
    for key in ADDRESS_FIELDS:
        header = msg.get(key)
        if header is None:
            continue
        addresses[key] = [[a.display_name, a.addr_spec] for a in header.addresses]
        groups[key] = [
            [g.display_name, [[a.display_name, a.addr_spec] for a in g.addresses]] for g in header.groups
        ]
    return {"headers": headers, "addresses": addresses, "groups": groups, "parts": parts(msg, lambda v: v)}


def parts(msg, decode_param):
    out = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_param("name")
        if isinstance(name, tuple):  # an RFC 2231 value under compat32
            name = email.utils.collapse_rfc2231_value(name)
        payload = part.get_payload(decode=True) or b""
        cid = part.get("Content-ID")
        out.append(
            {
                "contentType": part.get_content_type(),
                "charset": part.get_content_charset(),
                "filename": part.get_filename(),
                "name": None if name is None else decode_param(str(name)),
                "cid": None if cid is None else str(cid).strip(),
                "disposition": part.get_content_disposition(),
                "method": part.get_param("method"),
                "data": base64.b64encode(payload).decode("ascii"),
            }
        )
    return out


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        request = json.loads(line)
        try:
            with open(request["path"], "rb") as f:
                raw = f.read()
            answer = {"id": request["id"], "compat32": compat32_view(raw), "default": default_view(raw)}
        except Exception as err:  # reported per message, the process keeps going
            answer = {"id": request["id"], "error": repr(err)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
