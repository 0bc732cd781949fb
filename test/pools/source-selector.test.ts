import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.ts';
import { OutboundPools, type SourceChoice } from '../../src/pools/index.ts';
import { localAddressCheck } from '../../src/pools/local-addresses.ts';

function poolsWith(overrides: Record<string, unknown>): OutboundPools {
  return new OutboundPools({ config: loadConfig({ env: {}, overrides }), store: null });
}

const T0 = Date.UTC(2026, 2, 2, 10, 0, 0);

function pick(pools: OutboundPools, poolName: string | null, domain = 'dest.test', now = T0, recipients = 1, exclude?: Set<string>): SourceChoice {
  const pool = poolName ? pools.directory.pool(poolName) : null;
  return pools.selector.acquire({ pool, destination: pools.destinationFor(domain, [`mx.${domain}`], null), want: { v4: true, v6: true }, recipients, exclude, now });
}

function address(choice: SourceChoice): string | null {
  assert.equal(choice.kind, 'sources', JSON.stringify(choice));
  if (choice.kind !== 'sources') return null;
  const lease = choice.v4 ?? choice.v6 ?? choice.any!;
  lease.settle(true);
  return lease.source.address;
}

describe('source selection: weights', () => {
  it('shares a pool 3:1 by weight exactly over 40 choices (smooth weighted round-robin)', () => {
    const pools = poolsWith({ 'ip_pools.pools': [{ name: 'p', ips: [{ address: '127.0.0.2', hostname: 'a.test', weight: 3 }, { address: '127.0.0.3', hostname: 'b.test', weight: 1 }] }] });
    const counts = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const a = address(pick(pools, 'p'))!;
      counts.set(a, (counts.get(a) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(counts), { '127.0.0.2': 30, '127.0.0.3': 10 });
  });

  it('never chooses a weight-0 (drained) address', () => {
    const pools = poolsWith({ 'ip_pools.pools': [{ name: 'p', ips: [{ address: '127.0.0.2', hostname: 'a.test', weight: 0 }, { address: '127.0.0.3', hostname: 'b.test' }] }] });
    for (let i = 0; i < 5; i++) assert.equal(address(pick(pools, 'p')), '127.0.0.3');
  });

  it('without a pool gives the default source: no address, the configured hostname', () => {
    const pools = poolsWith({});
    const choice = pick(pools, null);
    assert.equal(choice.kind, 'sources');
    if (choice.kind === 'sources') assert.deepEqual(choice.any?.source, { pool: null, address: null, hostname: null, family: null });
  });

  it('picks an IPv6 member for IPv6 hosts and an IPv4 member for IPv4 hosts', () => {
    const pools = poolsWith({ 'ip_pools.pools': [{ name: 'p', ips: [{ address: '127.0.0.2', hostname: 'a.test' }, { address: '::1', hostname: 'six.test' }] }] });
    const choice = pick(pools, 'p');
    assert.equal(choice.kind, 'sources');
    if (choice.kind === 'sources') {
      assert.equal(choice.v4?.source.address, '127.0.0.2');
      assert.equal(choice.v6?.source.address, '::1');
      assert.equal(choice.v6?.source.hostname, 'six.test');
    }
  });

  it('falls back to IPv4 when the pool has no IPv6 member, and says so when it has no member of any wanted family', () => {
    const pools = poolsWith({ 'ip_pools.pools': [{ name: 'p', ips: [{ address: '127.0.0.2', hostname: 'a.test' }] }] });
    const both = pick(pools, 'p');
    assert.equal(both.kind === 'sources' && both.v6, null);
    assert.equal(both.kind === 'sources' && both.v4?.source.address, '127.0.0.2');
    const dest = pools.destinationFor('six.test', ['mx.six.test'], null);
    const v6only = pools.selector.acquire({ pool: pools.directory.pool('p'), destination: dest, want: { v4: false, v6: true }, recipients: 1, now: T0 });
    assert.equal(v6only.kind, 'none');
  });
});

describe('source selection: warm-up caps (ip_pools.warmup)', () => {
  const config = {
    'ip_pools.pools': [{ name: 'p', ips: [{ address: '127.0.0.4', hostname: 'new.test', weight: 100, warmup: true, warmup_start: '2026-03-02' }, { address: '127.0.0.5', hostname: 'old.test' }] }],
    'ip_pools.warmup.daily_start': 3,
    'ip_pools.warmup.daily_growth': 2,
  };

  it('sends 3 from the new address on day 0, then moves the overflow to the warm one', () => {
    const pools = poolsWith(config);
    const used = Array.from({ length: 6 }, () => address(pick(pools, 'p')));
    assert.deepEqual(used, ['127.0.0.4', '127.0.0.4', '127.0.0.4', '127.0.0.5', '127.0.0.5', '127.0.0.5']);
  });

  it('gives the count back when nothing was sent, so the cap counts only what went out', () => {
    const pools = poolsWith(config);
    for (let i = 0; i < 5; i++) {
      const choice = pick(pools, 'p');
      assert.equal(choice.kind === 'sources' && choice.v4?.source.address, '127.0.0.4');
      if (choice.kind === 'sources') choice.v4!.settle(false);
    }
  });

  it('doubles the cap on day 1 (×2 growth): 6 from the new address', () => {
    const pools = poolsWith(config);
    const day1 = T0 + 86_400_000;
    const used = Array.from({ length: 7 }, () => address(pick(pools, 'p', 'dest.test', day1)));
    assert.equal(used.filter((a) => a === '127.0.0.4').length, 6);
  });

  it('holds until the next UTC day when the only address is at its cap', () => {
    const pools = poolsWith({ ...config, 'ip_pools.pools': [{ name: 'p', ips: [{ address: '127.0.0.4', hostname: 'new.test', warmup: true, warmup_start: '2026-03-02' }] }] });
    for (let i = 0; i < 3; i++) address(pick(pools, 'p'));
    const held = pick(pools, 'p');
    assert.equal(held.kind, 'hold');
    if (held.kind === 'hold') {
      assert.equal(held.reason, 'warmup');
      assert.equal(held.until, Date.UTC(2026, 2, 3));
    }
  });
});

describe('source selection: pacing per source address and destination', () => {
  it('holds an address at its messages_per_minute toward one destination, not toward another', () => {
    const pools = poolsWith({ 'throttling.domains': { 'slow.test': { messages_per_minute: 2 } } });
    address(pick(pools, null, 'slow.test'));
    address(pick(pools, null, 'slow.test'));
    const held = pick(pools, null, 'slow.test');
    assert.equal(held.kind, 'hold');
    if (held.kind === 'hold') {
      assert.equal(held.reason, 'rate');
      assert.equal(held.until, T0 + 30_000);
    }
    assert.equal(pick(pools, null, 'other.test').kind, 'sources');
  });

  it('after 421 4.7.0 from one destination, holds that address there for a back-off interval and limits it to one connection', () => {
    const pools = poolsWith({ 'ip_pools.pools': [{ name: 'p', ips: [{ address: '127.0.0.2', hostname: 'a.test' }] }], 'throttling.backoff_messages_per_minute': 6 });
    const choice = pick(pools, 'p', 'gmail.test');
    assert.equal(choice.kind, 'sources');
    if (choice.kind !== 'sources') return;
    const observed = pools.observe(choice.v4!, pools.destinationFor('gmail.test', [], null), { code: 421, enhanced: '4.7.0', response: '421 4.7.0 Try again later, closing connection.' }, T0);
    assert.equal(observed?.signal, 'rate-limit');
    const held = pick(pools, 'p', 'gmail.test', T0 + 1);
    assert.equal(held.kind, 'hold');
    if (held.kind === 'hold') assert.equal(held.reason, 'backoff');
    const later = pick(pools, 'p', 'gmail.test', T0 + 10_001);
    assert.equal(later.kind, 'sources');
    if (later.kind === 'sources') assert.equal(later.v4!.maxConnections, 1);
    const elsewhere = pick(pools, 'p', 'other.test', T0 + 1);
    assert.equal(elsewhere.kind, 'sources');
    if (elsewhere.kind === 'sources') assert.equal(elsewhere.v4!.maxConnections, 10);
  });

  it('after a 5.7.x block uses the other address for that destination', () => {
    const pools = poolsWith({ 'ip_pools.pools': [{ name: 'p', ips: [{ address: '127.0.0.6', hostname: 'a.test' }, { address: '127.0.0.7', hostname: 'b.test' }] }] });
    const first = pick(pools, 'p', 'block.test');
    assert.equal(first.kind, 'sources');
    if (first.kind !== 'sources') return;
    assert.equal(first.v4!.source.address, '127.0.0.6');
    const observed = pools.observe(first.v4!, pools.destinationFor('block.test', [], null), { code: 550, enhanced: '5.7.1', response: '550 5.7.1 Client host [127.0.0.6] blocked using zen.spamhaus.org' }, T0);
    assert.equal(observed?.signal, 'ip-block');
    for (let i = 0; i < 4; i++) assert.equal(address(pick(pools, 'p', 'block.test', T0 + i)), '127.0.0.7');
    assert.equal(pick(pools, 'p', 'block.test', T0, 1, new Set(['127.0.0.7'])).kind, 'hold');
  });

  it('groups Google-hosted domains into one destination by MX suffix', () => {
    const pools = poolsWith({});
    const a = pools.destinationFor('example.org', ['aspmx.l.google.com'], null);
    const b = pools.destinationFor('gmail.com', ['gmail-smtp-in.l.google.com.'], null);
    assert.equal(a.key, 'provider:google');
    assert.equal(b.key, 'provider:google');
    assert.equal(pools.destinationFor('example.net', ['mx.example.net'], null).key, 'example.net');
    assert.equal(pools.destinationFor('x.test', ['x-test.mail.protection.outlook.com'], null).key, 'provider:microsoft');
  });
});

describe('source selection: each node sends only from its own addresses (issue 7)', () => {
  it('knows the loopback addresses as this machine\'s and a documentation address (RFC 5737) as not', () => {
    const isLocal = localAddressCheck();
    assert.equal(isLocal('127.0.0.1'), true);
    assert.equal(isLocal('127.0.0.9'), true);
    assert.equal(isLocal('198.51.100.10'), false);
    assert.equal(isLocal('not an address'), false);
  });

  it('skips a pool member held by another node and uses its own', () => {
    const pools = poolsWith({ 'ip_pools.pools': [{ name: 'p', ips: [{ address: '198.51.100.10', hostname: 'other-node.test' }, { address: '127.0.0.2', hostname: 'a.test' }] }] });
    for (let i = 0; i < 6; i++) assert.equal(address(pick(pools, 'p')), '127.0.0.2');
  });

  it('holds the mail for a short while (reason elsewhere) when every address of the pool is on other nodes', () => {
    const pools = poolsWith({ 'ip_pools.pools': [{ name: 'p', ips: [{ address: '198.51.100.10', hostname: 'other-node.test' }, { address: '198.51.100.11', hostname: 'other-node2.test' }] }] });
    const choice = pick(pools, 'p');
    assert.equal(choice.kind, 'hold', JSON.stringify(choice));
    if (choice.kind === 'hold') {
      assert.equal(choice.reason, 'elsewhere');
      assert.equal(choice.until, T0 + 30_000);
      assert.match(choice.detail, /no address of pool p is on this node/);
    }
  });
});
