// An in-app link: a real href (new tab, copy link, keyboard) that navigates without a reload.
import type { ReactNode } from 'react';
import { navigate } from '../router.ts';

export function Link({ to, children, className, current }: { to: string; children: ReactNode; className?: string; current?: boolean }) {
  return (
    <a href={to} className={className} aria-current={current ? 'page' : undefined} onClick={(e) => {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || e.button !== 0) return;
      e.preventDefault();
      navigate(to);
    }}>{children}</a>
  );
}
