// Looking at and steering the queue, and sending a test message.
import type { Command } from 'commander';
import MailComposer from 'nodemailer/lib/mail-composer';
import {
  listQueue, retryNow, cancelMessage, getMessageMeta, listRecipients, listAttempts, listEventsForMessage, insertMessage,
  newId, findTenant, listTenants, listDomains, StoreError, bodyPathIfFinal, type RecipientStatus,
} from '../store/index.ts';
import { parseAddress } from '../smtp/index.ts';
import { CLI_ACTOR, recordAudit } from '../security/index.ts';
import { configFrom, output, type GlobalOptions } from './main.ts';
import { withStore } from './open-cli-store.ts';

const STATES = ['queued', 'inflight', 'deferred', 'delivered', 'bounced', 'expired', 'cancelled', 'received', 'suppressed'];
const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(Number(ms)).toISOString());

export function registerQueueCommands(program: Command): void {
  const g = () => program.opts<GlobalOptions>();
  const queue = program.command('queue').description('inspect and steer the delivery queue');
  queue.command('list')
    .description('list recipients in the queue (default: queued, in flight and deferred)')
    .option('--state <state>', `only this state: ${STATES.join(', ')}`)
    .option('--limit <n>', 'at most this many rows', '1000')
    .action(async (o: { state?: string; limit: string }) => withStore(g(), async (store) => {
      if (o.state && !STATES.includes(o.state)) throw new StoreError('QUEUE_STATE_INVALID', `--state must be one of ${STATES.join(', ')}`);
      const rows = await listQueue(store.db, { state: o.state as RecipientStatus | undefined, limit: Number(o.limit) });
      const items = rows.map((r) => ({
        message_id: r.message_id, recipient_id: Number(r.id), recipient: r.rcpt, state: r.status, attempts: Number(r.attempts),
        next_attempt_at: iso(r.next_attempt_at), last_response: r.last_response, mail_from: r.mail_from, size: Number(r.size), created_at: iso(r.created_at),
      }));
      output(g(), items, items.map((i) => `${i.message_id}  ${i.state.padEnd(9)} ${i.recipient}  attempts=${i.attempts}${i.last_response ? `  last: ${i.last_response}` : ''}`).join('\n') || '(queue is empty)');
    }));
  queue.command('show <id>')
    .description('show a message: envelope, recipients, attempts and events')
    .action(async (id: string) => withStore(g(), async (store) => {
      const meta = await getMessageMeta(store.db, id);
      if (!meta) throw new StoreError('MESSAGE_NOT_FOUND', `no message with id ${id}`);
      const recipients = await listRecipients(store.db, id);
      const attempts = await listAttempts(store.db, id);
      const events = await listEventsForMessage(store.db, id);
      const value = {
        id: meta.id, tenant_id: meta.tenant_id, origin: meta.origin, stream: meta.stream, mail_from: meta.mail_from, size: meta.size,
        subject: meta.subject, message_id_header: meta.message_id_header, created_at: iso(meta.created_at),
        recipients: recipients.map((r) => ({ id: Number(r.id), recipient: r.rcpt, state: r.status, attempts: Number(r.attempts), next_attempt_at: iso(r.next_attempt_at), last_code: r.last_code, last_enhanced: r.last_enhanced, last_response: r.last_response })),
        attempts: attempts.map((a) => ({ recipient_id: Number(a.recipient_id), started_at: iso(a.started_at), duration_ms: Number(a.duration_ms), outcome: a.outcome, mx_host: a.mx_host, ip: a.ip, code: a.code, enhanced: a.enhanced, response: a.response, tls_version: a.tls_version })),
        events: events.map((e) => ({ id: e.id, type: e.type, created_at: iso(e.createdAt), data: e.data })),
      };
      output(g(), value, [
        `message ${meta.id} from <${meta.mail_from}> (${meta.size} bytes) ${meta.subject ?? ''}`,
        ...value.recipients.map((r) => `  ${r.recipient}: ${r.state} after ${r.attempts} attempt(s)${r.last_response ? ` — ${r.last_response}` : ''}`),
        ...value.events.map((e) => `  ${e.created_at} ${e.type}`),
      ].join('\n'));
    }));
  queue.command('retry [id]')
    .description('make deferred mail due now: one message, or --all')
    .option('--all', 'every queued or deferred recipient')
    .action(async (id: string | undefined, o: { all?: boolean }) => withStore(g(), async (store) => {
      if (!id && !o.all) throw new StoreError('ARGUMENT_MISSING', 'give a message id or --all');
      const n = await store.write(async (trx) => {
        const retried = await retryNow(trx, o.all ? { all: true } : { messageId: id! });
        const tenantId = id ? (await getMessageMeta(trx, id))?.tenant_id ?? null : null;
        if (retried > 0) await recordAudit(trx, CLI_ACTOR, 'queue.retried', { tenantId, id: id ?? null }, { recipients: retried, all: o.all === true });
        return retried;
      });
      output(g(), { retried: n }, `${n} recipient(s) due now`);
    }));
  queue.command('delete <id>')
    .description('cancel a message\'s undelivered recipients')
    .action(async (id: string) => withStore(g(), async (store) => {
      const n = await store.write(async (trx) => {
        const cancelled = await cancelMessage(trx, id);
        const tenantId = (await getMessageMeta(trx, id))?.tenant_id ?? null;
        if (cancelled > 0) await recordAudit(trx, CLI_ACTOR, 'message.cancelled', { tenantId, id }, { recipients: cancelled });
        return cancelled;
      });
      const path = await bodyPathIfFinal(store.db, id);
      if (path) await store.spool.remove(path);
      output(g(), { cancelled: n }, `${n} recipient(s) cancelled`);
    }));

  program.command('send')
    .description('queue a test message (the running server delivers it within a poll interval)')
    .requiredOption('--from <address>', 'sender, in a domain of a tenant')
    .requiredOption('--to <address...>', 'recipient(s)')
    .option('--subject <text>', 'subject', 'Postline test message')
    .option('--text <text>', 'plain-text body', 'This is a test message sent with `postline send`.')
    .option('--tenant <name>', 'tenant (default: the one owning the sender domain)')
    .action(async (o: { from: string; to: string[]; subject: string; text: string; tenant?: string }) => withStore(g(), async (store) => {
      const config = configFrom(g());
      const from = parseAddress(o.from);
      if (!from) throw new StoreError('ADDRESS_INVALID', `--from ${o.from} is not a valid address`);
      const rcpts = o.to.map((t) => {
        const p = parseAddress(t);
        if (!p) throw new StoreError('ADDRESS_INVALID', `--to ${t} is not a valid address`);
        return p.address;
      });
      let tenantId: string | undefined;
      if (o.tenant) tenantId = (await findTenant(store.db, o.tenant))?.id;
      else {
        for (const t of await listTenants(store.db)) {
          if ((await listDomains(store.db, t.id)).some((d) => from.domain === d.name || from.domain.endsWith(`.${d.name}`))) tenantId = t.id;
        }
      }
      if (!tenantId) throw new StoreError('SENDER_DOMAIN_UNKNOWN', `no tenant owns ${from.domain}: add it with postline domain add --tenant NAME ${from.domain}`);
      const id = newId();
      const raw = await new MailComposer({ from: o.from, to: rcpts, subject: o.subject, text: o.text, messageId: `<${id}@${config.hostname}>` }).compile().build();
      const headerEnd = raw.indexOf('\r\n\r\n');
      await store.write((trx) => insertMessage(trx, {
        id, tenantId: tenantId!, origin: 'cli', mailFrom: from.address, body: { size: raw.length, inline: raw, path: null },
        headerSize: headerEnd + 4, messageIdHeader: `<${id}@${config.hostname}>`, subject: o.subject, fromHeader: o.from,
        recipients: rcpts.map((rcpt) => ({ rcpt })),
      }, { now: Date.now(), lifetimeMs: config.queue.max_lifetime }));
      output(g(), { id, recipients: rcpts }, `queued as ${id}`);
    }));
}
