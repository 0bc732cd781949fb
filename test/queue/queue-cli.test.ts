// `postline queue list|show|retry|delete` against a running server: the CLI writes to the
// same store, and the server acts on it at its next poll. Retries are an hour apart here,
// so a deferred message moves only when the CLI says so.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDeliveryRig, recipient, eventTypes, type DeliveryRig, type MessageView } from './delivery-harness.ts';

const DEST_MX = '127.0.0.2';
const HOUR_MS = 3_600_000;

let rig: DeliveryRig;

before(async () => {
  rig = await startDeliveryRig({
    sinks: [DEST_MX],
    domains: ['acme.test'],
    env: { POSTLINE_RETRY_SCHEDULE: '1h' },
  });
  rig.dns.mx('cli.test', ['mx.cli.test']);
  rig.dns.a('mx.cli.test', DEST_MX);
});

after(async () => {
  await rig?.close();
});

const stateOf = (address: string, state: string) => (v: MessageView) => recipient(v, address).state === state;
const received = (address: string) => rig.sink(DEST_MX).messages.filter((m) => m.rcptTo.includes(address));

/** Sends to `address` while the sink answers it 451, and waits until it is deferred. */
async function deferred(address: string): Promise<string> {
  rig.sink(DEST_MX).setRcptRule(address, '451 4.2.1 Mailbox busy, try again later');
  const id = await rig.send({ from: 'app@acme.test', to: address });
  await rig.waitFor(id, stateOf(address, 'deferred'));
  return id;
}

/** Runs a CLI command that must fail; returns its `--json` error document. */
async function cliError(...args: string[]): Promise<{ code: string; message: string }> {
  try {
    await rig.postline.cli(...args);
  } catch (err) {
    const stdout = String((err as { stdout?: string }).stdout ?? '').trim();
    return (JSON.parse(stdout.split('\n').at(-1)!) as { error: { code: string; message: string } }).error;
  }
  throw new Error(`postline ${args.join(' ')} succeeded`);
}

describe('postline queue list and show', () => {
  it('lists a deferred recipient by default and under --state deferred, not under --state delivered', async () => {
    const id = await deferred('listed@cli.test');
    const pending = (await rig.list()).find((r) => r.message_id === id);
    assert.ok(pending, 'in the default listing');
    assert.equal(pending.state, 'deferred');
    assert.equal(pending.recipient, 'listed@cli.test');
    assert.equal(pending.attempts, 1);
    assert.equal(pending.mail_from, 'app@acme.test');
    assert.ok((await rig.list('--state', 'deferred')).some((r) => r.message_id === id));
    assert.ok(!(await rig.list('--state', 'delivered')).some((r) => r.message_id === id));
  });

  it('shows recipients, attempts and events of one message, with the next attempt an hour away', async () => {
    const id = await deferred('shown@cli.test');
    const view = await rig.show(id);
    assert.equal(view.id, id);
    assert.equal(view.mail_from, 'app@acme.test');
    const r = recipient(view, 'shown@cli.test');
    assert.equal(r.state, 'deferred');
    assert.equal(r.last_code, 451);
    assert.equal(r.last_enhanced, '4.2.1');
    assert.equal(view.attempts.length, 1);
    assert.equal(view.attempts[0].mx_host, 'mx.cli.test');
    assert.equal(view.attempts[0].outcome, 'deferred');
    assert.deepEqual(eventTypes(view), ['message.queued', 'message.deferred']);
    const next = Date.parse(view.events[1].data.next_attempt_at) - Date.now();
    assert.ok(next > 0.8 * HOUR_MS && next < 1.2 * HOUR_MS, `next attempt in about an hour (${next} ms)`);
  });

  it('refuses an unknown --state with QUEUE_STATE_INVALID, and an unknown id with MESSAGE_NOT_FOUND', async () => {
    assert.equal((await cliError('queue', 'list', '--state', 'lost')).code, 'QUEUE_STATE_INVALID');
    assert.equal((await cliError('queue', 'show', '01NOSUCHMESSAGE0000000000')).code, 'MESSAGE_NOT_FOUND');
  });
});

describe('postline queue retry', () => {
  it('retry ID makes one deferred message go now, long before its next attempt', async () => {
    const id = await deferred('now@cli.test');
    const other = await deferred('later@cli.test');
    rig.sink(DEST_MX).setRcptRule('now@cli.test', null);
    rig.sink(DEST_MX).setRcptRule('later@cli.test', null);
    assert.deepEqual(await rig.postline.cli('queue', 'retry', id), { retried: 1 });
    const view = await rig.waitFor(id, stateOf('now@cli.test', 'delivered'));
    assert.equal(recipient(view, 'now@cli.test').attempts, 2);
    assert.equal(received('now@cli.test').length, 1);
    // The message not named keeps waiting for its own time.
    assert.equal(recipient(await rig.show(other), 'later@cli.test').state, 'deferred');
    assert.equal(received('later@cli.test').length, 0);
    await rig.postline.cli('queue', 'delete', other);
  });

  it('retry --all makes every deferred message go now', async () => {
    const first = await deferred('all1@cli.test');
    const second = await deferred('all2@cli.test');
    rig.sink(DEST_MX).setRcptRule('all1@cli.test', null);
    rig.sink(DEST_MX).setRcptRule('all2@cli.test', null);
    const { retried } = await rig.postline.cli('queue', 'retry', '--all');
    assert.ok(retried >= 2, `both recipients retried (${retried})`);
    await rig.waitFor(first, stateOf('all1@cli.test', 'delivered'));
    await rig.waitFor(second, stateOf('all2@cli.test', 'delivered'));
  });

  it('retry without an id or --all is refused with ARGUMENT_MISSING', async () => {
    assert.equal((await cliError('queue', 'retry')).code, 'ARGUMENT_MISSING');
  });
});

describe('postline queue delete', () => {
  it('cancels a deferred message: state cancelled, message.cancelled, and it is never delivered, even after retry --all', async () => {
    const id = await deferred('doomed@cli.test');
    rig.sink(DEST_MX).setRcptRule('doomed@cli.test', null);
    assert.deepEqual(await rig.postline.cli('queue', 'delete', id), { cancelled: 1 });
    await rig.postline.cli('queue', 'retry', '--all');
    // Two poll intervals: time enough for a retry that should not happen.
    await new Promise((r) => setTimeout(r, 2_000));
    const view = await rig.show(id);
    assert.equal(recipient(view, 'doomed@cli.test').state, 'cancelled');
    assert.equal(eventTypes(view).at(-1), 'message.cancelled');
    assert.equal(view.attempts.length, 1);
    assert.equal(received('doomed@cli.test').length, 0);
    assert.ok(!(await rig.list()).some((r) => r.message_id === id), 'gone from the pending listing');
    assert.ok((await rig.list('--state', 'cancelled')).some((r) => r.message_id === id));
    assert.deepEqual(await rig.postline.cli('queue', 'delete', id), { cancelled: 0 }, 'a second delete finds nothing to cancel');
  });
});
