import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EVENT_TYPES } from '../../src/events/index.ts';

const docs = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');

describe('event types contract', () => {
  it('documents every event type in docs/events.md', () => {
    for (const type of EVENT_TYPES) assert.ok(docs.includes(`| \`${type}\` |`), `docs/events.md has no row for ${type}`);
  });
});
