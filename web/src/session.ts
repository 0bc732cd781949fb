// The signed-in session, for every page: who, which tenant, and what they may do.
import { createContext, useContext } from 'react';
import type { Scope, Session } from './types.ts';

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in page');
  return s;
}

/** True when the session may use routes of this scope (a viewer only reads). */
export function useCan(scope: Scope): boolean {
  return useSession().scopes.includes(scope);
}
