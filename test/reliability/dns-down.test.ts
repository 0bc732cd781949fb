// DNS down: with the resolver's server gone, a delivery defers with 4.4.3 (RFC 3463: directory
// server failure) and never bounces; when the server is back, the next retry delivers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';

interface View {
  recipients: Array<{ rcpt: string; state: string; last_enhanced: string | null; last_response: string | null; attempts: number }>;
}

describe('DNS down: deliveries defer with 4.4.3, never bounce, and go out when DNS returns', () => {
  let sink: SmtpSink;
  let dns: TestDnsServer;
  let dnsPort: number;
  let proc: PostlineProcess;

  before(async () => {
    sink = await startSmtpSink({ host: '127.0.0.2', port: 0 });
    // Take a free port for the DNS server, then close it: queries meet a closed port.
    const probe = await startDnsServer();
    dnsPort = probe.port;
    await probe.close();
    proc = await startPostline({
      tenant: { name: 'acme', domains: ['acme.test'] },
      env: {
        POSTLINE_DNS_SERVERS: `127.0.0.1:${dnsPort}`,
        POSTLINE_DELIVERY_PORT: String(sink.port),
        POSTLINE_RETRY_SCHEDULE: '1s',
        POSTLINE_SMTPS_LISTEN: 'off',
        POSTLINE_MX_LISTEN: 'off',
      },
    });
  });

  after(async () => {
    await proc?.cleanup();
    await dns?.close();
    await sink?.close();
  });

  it('defers with 4.4.3 while the DNS server is down (no bounce), then delivers after it comes back', { timeout: 60_000 }, async () => {
    const sent = await proc.cli('send', '--from', 'app@acme.test', '--to', 'user@dns-down.test');
    let view: View = await proc.cli('queue', 'show', sent.id);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !(view.recipients[0].attempts >= 2)) {
      await sleep(200);
      view = await proc.cli('queue', 'show', sent.id);
    }
    const r = view.recipients[0];
    assert.ok(r.attempts >= 2, `retried while DNS is down (attempts ${r.attempts})`);
    assert.equal(r.state, 'deferred', JSON.stringify(r));
    assert.equal(r.last_enhanced, '4.4.3', JSON.stringify(r));
    assert.equal(sink.messages.length, 0);

    dns = await startDnsServer({ port: dnsPort });
    dns.mx('dns-down.test', ['mx.dns-down.test']);
    dns.a('mx.dns-down.test', sink.host);
    await sink.waitFor(1, 30_000);
    for (let i = 0; i < 50; i++) {
      view = await proc.cli('queue', 'show', sent.id);
      if (view.recipients[0].state === 'delivered') break;
      await sleep(200);
    }
    assert.equal(view.recipients[0].state, 'delivered');
    assert.ok(!sink.messages.some((m) => m.mailFrom === ''), 'no bounce was sent');
  });
});
