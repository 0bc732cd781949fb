// Issue 7 (load balancing SMTP): PROXY protocol v1 from configured load balancers. The header's
// source address is the client for every policy (here: a relay network that only the real
// client is in); without the setting, or from another peer, a PROXY line is just an unknown
// command and the peer's own address counts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { connectSmtp } from '../helpers/smtp-talk.ts';

let postline: PostlineProcess;

before(async () => {
  postline = await startPostline({
    env: { POSTLINE_SMTP_PROXY_PROTOCOL_FROM: '127.0.0.1', POSTLINE_RELAY_NETWORKS: '198.51.100.0/24=acme' },
    tenant: { name: 'acme', domains: ['acme.test'] },
  });
});
after(async () => {
  await postline?.cleanup();
});

describe('PROXY protocol v1 (smtp.proxy_protocol_from)', () => {
  it('takes the client address from the header of a listed load balancer: its relay network applies', async () => {
    const talk = await connectSmtp({ host: postline.smtp.host, port: postline.smtp.port, localAddress: '127.0.0.1', proxyHeader: `PROXY TCP4 198.51.100.7 ${postline.smtp.host} 40000 ${postline.smtp.port}\r\n` });
    await talk.ehlo('client.example');
    assert.equal((await talk.send('MAIL FROM:<app@acme.test>')).code, 250, 'relayed as tenant acme, as 198.51.100.7 is');
    await talk.send('QUIT');
  });

  it('keeps the peer address when the peer is not a listed load balancer (a PROXY line is not a command)', async () => {
    const talk = await connectSmtp({ host: postline.smtp.host, port: postline.smtp.port, localAddress: '127.0.0.2' });
    const proxyLine = await talk.send(`PROXY TCP4 198.51.100.7 ${postline.smtp.host} 40000 ${postline.smtp.port}`);
    assert.equal(proxyLine.code, 500);
    await talk.ehlo('client.example');
    assert.match((await talk.send('MAIL FROM:<app@acme.test>')).last, /^530 5\.7\.0 /);
    await talk.send('QUIT');
  });
});
