// Copies a value to the clipboard; the button's accessible name says what it copies.
import { useState } from 'react';

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain HTTP on a LAN address is not a secure context: fall back to a selection copy.
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

export function CopyButton({ value, label }: { value: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  return (
    <button
      type="button"
      className="small"
      aria-label={`Copy ${label}`}
      onClick={() => copyText(value).then(() => setState('copied'), () => setState('failed')).finally(() => setTimeout(() => setState('idle'), 2000))}
    >
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : 'Copy'}
    </button>
  );
}

/** A secret the API answers once: shown with a copy button and a warning. */
export function SecretOnce({ label, value, onDone }: { label: string; value: string; onDone: () => void }) {
  return (
    <div className="secret" role="region" aria-label={`New ${label}`}>
      <p><strong>Copy the {label} now: it is shown only once.</strong></p>
      <p><code data-testid="secret">{value}</code> <CopyButton value={value} label={label} /></p>
      <button type="button" onClick={onDone}>I have copied it</button>
    </div>
  );
}
