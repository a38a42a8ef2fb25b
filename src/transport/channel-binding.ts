/**
 * Channel binding for SCRAM-*-PLUS, read from a live TLS socket: `tls-exporter` (RFC 9266) on
 * TLS 1.3, `tls-server-end-point` (RFC 5929 §4.1) below it. `tls-unique` is not offered: it is
 * unsafe without extended master secret and undefined on TLS 1.3.
 */
import type tls from 'node:tls';
import { tlsServerEndPoint } from '../protocol/sasl/tls-server-end-point.js';
import type { ChannelBinding } from '../protocol/sasl/types.js';

/** The binding of this TLS session, or null when none can be computed. */
export function channelBindingOf(socket: tls.TLSSocket): ChannelBinding | null {
  try {
    if (socket.getProtocol() === 'TLSv1.3') {
      // RFC 9266 §2: label "EXPORTER-Channel-Binding", empty context, 32 octets.
      const data = socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
      return { type: 'tls-exporter', data };
    }
    const cert = socket.getPeerX509Certificate();
    const data = cert ? tlsServerEndPoint(cert.raw) : null;
    return data === null ? null : { type: 'tls-server-end-point', data };
  } catch {
    // A socket that cannot export (closing, no session): no -PLUS rather than a failed login.
    return null;
  }
}
