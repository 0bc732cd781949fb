// The delivery loop under load (src/queue/scheduler.ts): many messages to one destination
// share a few reused connections, never more than the per-destination limit.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { startDeliveryRig, recipient, eventTypes, type DeliveryRig } from './delivery-harness.ts';

const DEST_MX = '127.0.0.2';
const MESSAGES = 100;

let rig: DeliveryRig;

before(async () => {
  rig = await startDeliveryRig({
    sinks: [DEST_MX],
    domains: ['acme.test'],
    env: { POSTLINE_MAX_CONNECTIONS_PER_DESTINATION: '3', POSTLINE_RETRY_SCHEDULE: '1s' },
  });
  rig.dns.mx('bulk.test', ['mx.bulk.test']);
  rig.dns.a('mx.bulk.test', DEST_MX);
});

after(async () => {
  await rig?.close();
});

describe('per-destination concurrency (delivery.max_connections_per_destination)', () => {
  it(`delivers ${MESSAGES} messages to one domain over at most 3 simultaneous, reused connections`, async () => {
    const sink = rig.sink(DEST_MX);
    sink.reset();
    const ids = await Promise.all(Array.from({ length: MESSAGES }, (_, i) => rig.send({ from: 'app@acme.test', to: `user${i}@bulk.test`, subject: `bulk ${i}` })));
    assert.equal(new Set(ids).size, MESSAGES);
    await sink.waitFor(MESSAGES, 30_000);
    assert.ok(sink.connections.max <= 3, `at most 3 connections at once (saw ${sink.connections.max})`);
    assert.ok(sink.connections.total <= 10, `connections are reused (${sink.connections.total} for ${MESSAGES} messages)`);
    const delivered = await rig.list('--state', 'delivered', '--limit', '1000');
    const ours = new Set(ids);
    assert.equal(delivered.filter((r) => ours.has(r.message_id)).length, MESSAGES);
    assert.deepEqual((await rig.list()).filter((r) => ours.has(r.message_id)), [], 'nothing left queued or deferred');
    const received = new Set(sink.messages.flatMap((m) => m.rcptTo));
    for (let i = 0; i < MESSAGES; i++) assert.ok(received.has(`user${i}@bulk.test`), `user${i} received its message`);
  });
});

describe('spooled bodies across deferred attempts', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  it('an attempt that never reaches DATA leaves no spool file open (no descriptor leak)', async () => {
    rig.dns.setFailure('spooled.test', 'SERVFAIL');
    // Over the 1 MiB inline limit, so the body lives in the spool directory.
    const id = await rig.send({ from: 'app@acme.test', to: 'user@spooled.test', text: `${'x'.repeat(76)}\r\n`.repeat(20_000) });
    await rig.waitFor(id, (v) => recipient(v, 'user@spooled.test').attempts >= 3 && recipient(v, 'user@spooled.test').state === 'deferred', 30_000);
    const spoolDir = join(rig.postline.dataDir, 'spool');
    const fdDir = `/proc/${rig.postline.child.pid}/fd`;
    const open: string[] = [];
    for (const fd of await readdir(fdDir)) {
      const target = await readlink(join(fdDir, fd)).catch(() => '');
      if (target.startsWith(spoolDir)) open.push(target);
    }
    assert.deepEqual(open, []);
    // Once DNS answers, the body is read from the spool and delivered whole.
    rig.dns.setFailure('spooled.test', null);
    rig.dns.mx('spooled.test', ['mx.bulk.test']);
    const view = await rig.waitFor(id, (v) => recipient(v, 'user@spooled.test').state === 'delivered', 30_000);
    assert.ok(eventTypes(view).includes('message.delivered'));
    const [received] = rig.sink(DEST_MX).messages.filter((m) => m.rcptTo.includes('user@spooled.test'));
    assert.ok(received.raw.length > 1024 * 1024);
  });
});
