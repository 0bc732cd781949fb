// A certificate authority of the test's own and leaf certificates it signs, for TLS peers
// (MX sinks, MTA-STS policy hosts) that must verify against tls_policy.ca_file.
import { generate } from 'selfsigned';

export interface Pem { key: string; cert: string }

export async function testCa(): Promise<Pem> {
  const ca = await generate([{ name: 'commonName', value: 'Postline Test CA' }], {
    keySize: 2048, algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }],
  });
  return { key: ca.private, cert: ca.cert };
}

export async function leaf(ca: Pem, names: string[]): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: names[0] }], {
    keySize: 2048, algorithm: 'sha256', ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
