// Which certificates delivery trusts when it verifies one (MTA-STS policy hosts and MX
// hosts under an `enforce` policy): the system roots plus `tls_policy.ca_file`. Node's `ca`
// option replaces the roots, so the extra CAs are added to them, and the secure context is
// built once per CA list: building one per connection costs milliseconds of CPU.
import tls from 'node:tls';

const contexts = new WeakMap<readonly string[], tls.SecureContext>();

/** undefined without extra CAs: Node's default context (the system roots). */
export function secureContextFor(extraCa: readonly string[] | null | undefined): tls.SecureContext | undefined {
  if (!extraCa || extraCa.length === 0) return undefined;
  let context = contexts.get(extraCa);
  if (!context) contexts.set(extraCa, (context = tls.createSecureContext({ ca: [...tls.rootCertificates, ...extraCa] })));
  return context;
}
