#!/usr/bin/python3
# An independent DKIM verifier for the tests: Debian's python3-dkim (dkimpy), its key
# lookups sent with dnspython to the test DNS server on 127.0.0.1:<port>.
#
#   /usr/bin/python3 test/helpers/dkim-verify.py PORT < message.eml
#
# Verifies every DKIM-Signature of the message, prints one line per signature
# (`<index> <d> <s> <a> pass|fail`) and exits 0 only when there is at least one and all pass.
import logging
import re
import sys

import dkim
import dns.message
import dns.query
import dns.rdatatype


def make_dnsfunc(port):
    def dnsfunc(name, timeout=5):
        qname = name.decode() if isinstance(name, bytes) else name
        query = dns.message.make_query(qname, dns.rdatatype.TXT)
        response = dns.query.udp(query, '127.0.0.1', port=port, timeout=timeout)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, '127.0.0.1', port=port, timeout=timeout)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return b''.join(list(rrset.items)[0].strings)
        return None
    return dnsfunc


def main():
    port = int(sys.argv[1])
    message = sys.stdin.buffer.read()
    logging.basicConfig(level=logging.ERROR)
    d = dkim.DKIM(message, logger=logging.getLogger('dkim'))
    count = len([1 for name, _ in d.headers if name.lower() == b'dkim-signature'])
    if count == 0:
        print('no DKIM-Signature')
        return 1
    failures = 0
    dnsfunc = make_dnsfunc(port)
    for idx in range(count):
        try:
            ok = d.verify(idx=idx, dnsfunc=dnsfunc)
        except dkim.DKIMException as err:
            ok = False
            print(f'{idx} error {err}')
        sig = d.signature_fields or {}
        algo = sig.get(b'a', b'?').decode()
        print(f"{idx} {sig.get(b'd', b'?').decode()} {sig.get(b's', b'?').decode()} {algo} {'pass' if ok else 'fail'}")
        if not ok:
            failures += 1
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
