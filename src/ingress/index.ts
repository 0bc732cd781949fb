export { createIngress } from './smtp-listeners.ts';
export type { Ingress, IngressOptions } from './smtp-listeners.ts';
export { parseRelayNetworks, matchRelayNetwork } from './relay-networks.ts';
export { AuthThrottle } from './auth-throttle.ts';
export { MessageIntake } from './message-intake.ts';
export { receivedHeader, rfc5322Date } from './header-policy.ts';
export type { DeliveryHandoff } from './accept-message.ts';
