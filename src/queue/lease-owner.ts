// Who holds a delivery lease: `<node_id>:<pid>:<random>`. One run of one node owns its
// leases; at start a node releases the leases of its own earlier runs (they crashed or
// stopped) and, on PostgreSQL, only those: other nodes' leases are theirs until they expire.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';

/** The node's id: config `node_id`, else this machine's host name and the data dir (stable across restarts). */
export function nodeIdOf(config: { readonly node_id: string | null; readonly data_dir: string }): string {
  return config.node_id ?? `${hostname()}${resolve(config.data_dir)}`;
}

export function newLeaseOwner(nodeId: string): string {
  return `${nodeId}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** The part of a lease owner every run of the same node shares (`<node_id>:`). */
export function leaseOwnerPrefix(owner: string): string {
  const rand = owner.lastIndexOf(':');
  const pid = owner.lastIndexOf(':', rand - 1);
  return owner.slice(0, pid + 1);
}
