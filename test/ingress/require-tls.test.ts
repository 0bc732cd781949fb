// RFC 8689 §4.1 at ingress: REQUIRETLS is advertised on TLS sessions only (after STARTTLS, on
// implicit TLS), refused on a plaintext session with 530, and a message accepted with it keeps
// the flag (messages.require_tls), which delivery then enforces (test/delivery/require-tls.test.ts).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { connectSmtp, type SmtpTalk, type TalkOptions } from '../helpers/smtp-talk.ts';
import { openStore } from '../../src/store/index.ts';

let server: PostlineProcess;
const talks: SmtpTalk[] = [];

before(async () => {
  server = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    // Nothing here is meant to leave: a relayhost nobody listens on keeps deliveries local.
    env: { POSTLINE_RELAYHOST: '127.0.0.2:9' },
  });
});

after(async () => {
  for (const t of talks) t.close();
  await server?.cleanup();
});

async function open(listener: 'smtp' | 'smtps', extra: Partial<TalkOptions> = {}): Promise<SmtpTalk> {
  const ep = server[listener];
  const t = await connectSmtp({ host: ep.host, port: ep.port, tls: listener === 'smtps', ...extra });
  talks.push(t);
  return t;
}

const advertises = (lines: readonly string[]) => lines.some((l) => /^250[ -]REQUIRETLS$/i.test(l));

async function requireTlsOf(id: string): Promise<number | undefined> {
  const store = await openStore({ dataDir: server.dataDir, databaseUrl: server.env.POSTLINE_DATABASE_URL ?? null });
  try {
    const row = await store.db.selectFrom('messages').select('require_tls').where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : Number(row.require_tls);
  } finally {
    await store.close();
  }
}

async function submit(mailFrom: string): Promise<string> {
  const t = await open('smtp');
  await t.ehlo();
  await t.startTls();
  await t.ehlo();
  assert.equal((await t.authPlain(server.credential!.username, server.credential!.password)).code, 235);
  assert.equal((await t.send(mailFrom)).last, '250 2.1.0 Accepted');
  assert.equal((await t.send('RCPT TO:<someone@example.net>')).code, 250);
  const done = await t.data('From: app@acme.test\r\nTo: someone@example.net\r\nSubject: rt\r\n\r\nHello.\r\n');
  const id = /queued as (\S+)/.exec(done.last)?.[1];
  assert.ok(id, done.last);
  return id;
}

describe('RFC 8689 §4.1 REQUIRETLS on the submission listeners', () => {
  it('does not advertise REQUIRETLS in plaintext, and advertises it after STARTTLS', async () => {
    const t = await open('smtp');
    assert.equal(advertises((await t.ehlo()).lines), false);
    await t.startTls();
    assert.equal(advertises((await t.ehlo()).lines), true);
  });

  it('advertises REQUIRETLS on implicit TLS (RFC 8314)', async () => {
    const t = await open('smtps');
    assert.equal(advertises((await t.ehlo()).lines), true);
  });

  it('refuses MAIL FROM with REQUIRETLS on a plaintext session with 530 (RFC 3207)', async () => {
    const t = await open('smtp');
    await t.ehlo();
    const r = await t.send('MAIL FROM:<app@acme.test> REQUIRETLS');
    // smtp-server answers before Postline's policy runs: "530 5.7.0 REQUIRETLS not permitted on non-TLS connections".
    assert.equal(r.code, 530, r.last);
    assert.match(r.last, /REQUIRETLS/);
  });

  it('accepts REQUIRETLS over TLS with 250 and stores the flag with the message; without it the flag is 0', async () => {
    assert.equal(await requireTlsOf(await submit('MAIL FROM:<app@acme.test> REQUIRETLS')), 1);
    assert.equal(await requireTlsOf(await submit('MAIL FROM:<app@acme.test>')), 0);
  });
});
