// How a failed recipient is reported: `hard` (the address or domain does not exist),
// `block` (policy or reputation, RFC 3463 X.7.x) or `soft` (anything else, e.g. 5.2.2
// mailbox full, which may succeed later).
export type BounceClass = 'hard' | 'soft' | 'block';

export function classifyBounce(enhanced: string | null, smtpCode: number | null): BounceClass {
  if (enhanced) {
    const [, subject] = enhanced.split('.');
    if (subject === '7') return 'block';
    if (enhanced.startsWith('5.1.') || enhanced === '5.4.4' || enhanced === '5.1.10') return 'hard';
    if (enhanced.startsWith('4.')) return 'soft';
    if (subject === '2' || subject === '3' || subject === '4') return 'soft';
    return 'hard';
  }
  if (smtpCode !== null && smtpCode >= 500 && smtpCode < 600) return smtpCode === 552 || smtpCode === 452 ? 'soft' : 'hard';
  return 'soft';
}
