import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig, ConfigError, ENV_OVERRIDES, configSchema, parseDurationMs } from '../../src/config/index.ts';

const docs = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

/** Every leaf key path of the schema, e.g. smtp.listen. */
function keyPaths(shape: Record<string, any>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, schema] of Object.entries(shape)) {
    let inner = schema;
    // Unwrap defaults/prefaults/nullable to find nested objects.
    while (inner?.def && !inner.def.shape && inner.def.innerType) inner = inner.def.innerType;
    if (inner?.def?.shape) out.push(...keyPaths(inner.def.shape, `${prefix}${key}.`));
    else out.push(`${prefix}${key}`);
  }
  return out;
}

describe('configuration', () => {
  it('has a default for every key, so an empty file starts', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.smtp.listen, '127.0.0.1:2587');
    assert.equal(config.smtp.smtps_listen, '127.0.0.1:2465');
    assert.equal(config.smtp.mx_listen, '127.0.0.1:2525');
    assert.equal(config.http.listen, '127.0.0.1:8025');
    assert.equal(config.delivery.port, 25);
    assert.equal(config.delivery.allow_private, false);
    assert.equal(config.queue.max_lifetime, 5 * 86_400_000);
    assert.deepEqual(config.queue.retry_schedule, ['1m', '5m', '15m', '30m', '1h', '2h', '4h'].map(parseDurationMs));
    assert.ok(Object.isFrozen(config.smtp));
  });

  it('applies POSTLINE_* overrides over the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postline-config-'));
    const file = join(dir, 'postline.yaml');
    writeFileSync(file, 'delivery:\n  port: 2526\nqueue:\n  retry_schedule: [10s]\n');
    const config = loadConfig({
      file,
      env: { POSTLINE_DELIVERY_PORT: '2600', POSTLINE_DNS_SERVERS: '127.0.0.1:5353, 127.0.0.2', POSTLINE_RELAY_NETWORKS: '127.0.0.0/8=acme,10.1.0.0/16=shop', POSTLINE_DELIVERY_ALLOW_PRIVATE: 'true', POSTLINE_MAX_QUEUE_LIFETIME: '2h' },
    });
    assert.equal(config.delivery.port, 2600);
    assert.deepEqual(config.queue.retry_schedule, [10_000]);
    assert.deepEqual(config.dns.servers, ['127.0.0.1:5353', '127.0.0.2']);
    assert.deepEqual(config.smtp.relay_networks, ['127.0.0.0/8=acme', '10.1.0.0/16=shop']);
    assert.equal(config.delivery.allow_private, true);
    assert.equal(config.queue.max_lifetime, 7_200_000);
  });

  it('stops with a message naming a misspelt key', () => {
    assert.throws(() => loadConfig({ env: {}, overrides: { 'smtp.lisen': '127.0.0.1:25' } }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /lisen/);
      assert.match(err.message, /smtp/);
      return true;
    });
  });

  it('stops with a message naming a bad value', () => {
    assert.throws(() => loadConfig({ env: { POSTLINE_RETRY_SCHEDULE: '1m,soon' } }), /soon.*not a duration|not a duration/);
    assert.throws(() => loadConfig({ env: { POSTLINE_DELIVERY_PORT: 'twenty-five' } }), /POSTLINE_DELIVERY_PORT/);
    assert.throws(() => loadConfig({ env: { POSTLINE_SMTP_LISTEN: 'nowhere' } }), /smtp\.listen/);
  });

  it('documents every key and every environment override in docs/configuration.md', () => {
    for (const path of keyPaths((configSchema as any).def.shape)) assert.ok(docs.includes(`\`${path}\``), `docs/configuration.md does not document ${path}`);
    for (const name of Object.keys(ENV_OVERRIDES)) assert.ok(docs.includes(name), `docs/configuration.md does not document ${name}`);
  });

  it('ships an example file that loads', () => {
    const config = loadConfig({ file: new URL('../../postline.example.yaml', import.meta.url).pathname, env: {} });
    assert.equal(config.smtp.max_recipients, 1000);
  });
});
