// Admin: outbound IP pools (issue 5). Pools declared in the configuration (`ip_pools.pools`)
// are listed with `source: config` and cannot be changed here; pools created here are stored
// and reach the delivery threads within `ip_pools.reload_interval`. GET shows each address's
// warm-up day and cap, what it sent today and this hour, and the throttles in force for it.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createIpPool, deleteIpPool, replaceIpPoolMembers, tenantsUsingPool } from '../../store/index.ts';
import { loadPools, reportPools, type PoolReport } from '../../pools/index.ts';
import { ApiProblem, fieldProblem } from '../problem.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, isoTime, noContent, timestamp } from '../schemas.ts';

export const poolName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit");
const hostname = z.string().max(253).regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+\.?$/i, 'expected a fully qualified host name');

const memberInput = z.strictObject({
  address: z.string().refine((v) => isIP(v) !== 0, 'expected an IPv4 or IPv6 address of this host'),
  hostname: hostname.describe('RFC 5321 EHLO name used from this address; should match its PTR record'),
  weight: z.number().int().min(0).max(1000).default(1).describe('Share of the pool\'s mail; 0 drains the address'),
  warmup: z.boolean().default(false).describe('Follow the warm-up schedule (ip_pools.warmup) from the day the address was added'),
});

const members = z.array(memberInput).min(1).max(256).refine((list) => new Set(list.map((m) => m.address)).size === list.length, 'an address appears twice');

const throttleSchema = z.object({
  destination: z.string().describe('Recipient domain, `provider:<name>` or `relay:<host>`'),
  kind: z.enum(['backoff', 'block']),
  until: timestamp,
  reason: z.string().nullable(),
});

const addressSchema = z.object({
  address: z.string(),
  hostname: z.string(),
  weight: z.number().int(),
  warmup: z.boolean(),
  family: z.union([z.literal(4), z.literal(6)]),
  added_at: timestamp.nullable(),
  warmup_started_at: timestamp.nullable(),
  warmup_day: z.number().int().nullable().describe('Days since the warm-up started (0 on the first day); null when the address does not warm up'),
  daily_cap: z.number().int().nullable().describe('Recipients allowed today; null: no cap'),
  hourly_cap: z.number().int().nullable(),
  sent_today: z.number().int().describe('Recipients sent from this address since 00:00 UTC'),
  sent_this_hour: z.number().int(),
  throttles: z.array(throttleSchema).describe('Back-offs and blocks in force'),
});

export const ipPoolSchema = z.object({
  name: z.string(),
  source: z.enum(['config', 'api']).describe('`config` pools are read-only here'),
  ips: z.array(addressSchema),
}).meta({ id: 'IpPool' });

function poolJson(p: PoolReport): z.output<typeof ipPoolSchema> {
  return {
    name: p.name,
    source: p.source,
    ips: p.addresses.map((a) => ({
      address: a.address, hostname: a.hostname, weight: a.weight, warmup: a.warmup, family: a.family,
      added_at: isoTime(a.addedAt), warmup_started_at: isoTime(a.warmupStartedAt), warmup_day: a.warmupDay,
      daily_cap: a.dailyCap, hourly_cap: a.hourlyCap, sent_today: a.sentToday, sent_this_hour: a.sentThisHour,
      throttles: a.throttles.map((t) => ({ destination: t.destination, kind: t.kind as 'backoff' | 'block', until: isoTime(t.until), reason: t.reason })),
    })),
  };
}

const nameParams = z.object({ name: poolName });

export const ipPoolRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config } = app.postline;
  const tags = ['ip-pools'];

  async function report(name: string): Promise<z.output<typeof ipPoolSchema>> {
    const pool = (await loadPools(store.db, config)).find((p) => p.name === name);
    if (!pool) throw new ApiProblem('not-found', `no IP pool "${name}"`);
    return poolJson((await reportPools(store.db, config, [pool]))[0]);
  }

  function assertNotConfigured(name: string): void {
    if (config.ip_pools.pools.some((p) => p.name === name)) {
      throw new ApiProblem('conflict', `IP pool "${name}" is declared in the configuration (ip_pools.pools); change it there`, { code: 'IP_POOL_CONFIGURED' });
    }
  }

  app.route({
    method: 'POST',
    url: '/api/v1/ip-pools',
    bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: {
      tags, summary: 'Create an IP pool',
      body: z.strictObject({ name: poolName, ips: members }),
      response: { 201: ipPoolSchema },
    },
    handler: async (request, reply) => {
      const { name, ips } = request.body;
      assertNotConfigured(name);
      const created = await store.write((trx) => createIpPool(trx, name, ips));
      if (!created) throw fieldProblem('body', ['name'], `an IP pool named "${name}" already exists`, 'conflict');
      return reply.code(201).send(await report(name));
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/ip-pools',
    schema: { tags, summary: 'List IP pools with their addresses, warm-up and throttles', response: { 200: z.object({ data: z.array(ipPoolSchema) }) } },
    handler: async () => ({ data: (await reportPools(store.db, config, await loadPools(store.db, config))).map(poolJson) }),
  });

  app.route({
    method: 'GET',
    url: '/api/v1/ip-pools/:name',
    schema: { tags, summary: 'Get an IP pool: each address\'s warm-up day, cap, today\'s count and current throttles', params: nameParams, response: { 200: ipPoolSchema } },
    handler: async (request) => report(request.params.name),
  });

  app.route({
    method: 'PATCH',
    url: '/api/v1/ip-pools/:name',
    bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: {
      tags, summary: 'Replace an IP pool\'s addresses',
      description: 'An address that stays keeps the time it was added (and its warm-up day, which belongs to the address).',
      params: nameParams,
      body: z.strictObject({ ips: members }),
      response: { 200: ipPoolSchema },
    },
    handler: async (request) => {
      assertNotConfigured(request.params.name);
      const changed = await store.write((trx) => replaceIpPoolMembers(trx, request.params.name, request.body.ips));
      if (!changed) throw new ApiProblem('not-found', `no IP pool "${request.params.name}"`);
      return report(request.params.name);
    },
  });

  app.route({
    method: 'DELETE',
    url: '/api/v1/ip-pools/:name',
    schema: {
      tags, summary: 'Delete an IP pool',
      description: 'Refused with 409 while a tenant names it for a stream.',
      params: nameParams,
      response: { 204: noContent },
    },
    handler: async (request, reply) => {
      const name = request.params.name;
      assertNotConfigured(name);
      const outcome = await store.write(async (trx): Promise<{ users: string[]; deleted: boolean }> => {
        const users = await tenantsUsingPool(trx, name);
        return users.length > 0 ? { users, deleted: false } : { users, deleted: await deleteIpPool(trx, name) };
      });
      if (outcome.users.length > 0) {
        throw new ApiProblem('conflict', `IP pool "${name}" is assigned to ${outcome.users.length} tenant(s); assign them another pool first`, { code: 'IP_POOL_IN_USE', extensions: { tenants: outcome.users } });
      }
      if (!outcome.deleted) throw new ApiProblem('not-found', `no IP pool "${name}"`);
      return reply.code(204).send();
    },
  });
};
