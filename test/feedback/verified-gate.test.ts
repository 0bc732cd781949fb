// Issue 4: sending only from verified domains. An unverified domain is refused with a clear
// error naming it (API 422 API_SENDER_DOMAIN_NOT_VERIFIED, SMTP 550 5.7.1); a sandbox tenant,
// whose mail never leaves the machine, may send from it (the README's first steps do).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';

let postline: PostlineProcess;

before(async () => {
  postline = await startPostline({ env: { POSTLINE_DOMAINS_REQUIRE_VERIFIED: 'true' }, tenant: { name: 'acme', domains: ['acme.test'] } });
});
after(async () => {
  await postline?.cleanup();
});

async function submit(user: string, pass: string, from: string): Promise<string> {
  const transport = nodemailer.createTransport({
    host: postline.smtp.host, port: postline.smtp.port, secure: false, requireTLS: true,
    auth: { user, pass }, tls: { rejectUnauthorized: false },
  });
  try {
    const info = await transport.sendMail({ from, to: 'someone@dest.test', subject: 'gate', text: 'hello' });
    return String(info.response);
  } catch (err) {
    return String((err as { response?: string }).response ?? (err as Error).message);
  } finally {
    transport.close();
  }
}

describe('domains.require_verified (default true)', () => {
  it('refuses MAIL FROM in an added but unverified domain with 550 5.7.1 saying so', async () => {
    const reply = await submit(postline.credential!.username, postline.credential!.password, 'app@acme.test');
    assert.match(reply, /^550 5\.7\.1 .*not verified yet/);
  });

  it('lets a sandbox tenant send from its unverified domain (captured, never sent)', async () => {
    await postline.cli('tenant', 'create', 'sandy', '--sandbox');
    await postline.cli('domain', 'add', '--tenant', 'sandy', 'sandy.test');
    const cred = await postline.cli('credential', 'create', '--tenant', 'sandy');
    const reply = await submit(cred.username, cred.password, 'app@sandy.test');
    assert.match(reply, /^250 2\.6\.0 /);
  });
});
