// Every migration, in order. A new migration is a new file here and one line in this list.
import type { Migration } from 'kysely/migration';
import * as m0001 from './0001-initial.ts';
import * as m0002 from './0002-api-keys.ts';
import * as m0003 from './0003-sending.ts';
import * as m0004 from './0004-webhooks.ts';
import * as m0005 from './0005-audit-log.ts';
import * as m0006 from './0006-domain-auth.ts';
import * as m0007 from './0007-suppressions.ts';
import * as m0008 from './0008-feedback.ts';
import * as m0009 from './0009-users.ts';
import * as m0010 from './0010-ip-pools.ts';
import * as m0011 from './0011-campaigns.ts';
import * as m0012 from './0012-requiretls.ts';
import * as m0013 from './0013-cluster-leases.ts';
import * as m0014 from './0014-delay-dsn.ts';
import * as m0015 from './0015-rendered-bodies.ts';

export const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-api-keys': m0002,
  '0003-sending': m0003,
  '0004-webhooks': m0004,
  '0005-audit-log': m0005,
  '0006-domain-auth': m0006,
  '0007-suppressions': m0007,
  '0008-feedback': m0008,
  '0009-users': m0009,
  '0010-ip-pools': m0010,
  '0011-campaigns': m0011,
  '0012-requiretls': m0012,
  '0013-cluster-leases': m0013,
  '0014-delay-dsn': m0014,
  '0015-rendered-bodies': m0015,
};
