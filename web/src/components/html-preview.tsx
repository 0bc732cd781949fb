// An email's HTML in a sandboxed iframe: no scripts, no same-origin access, no forms, and a
// strict Content-Security-Policy in the document itself that blocks remote content (tracking
// pixels, remote images and fonts) until the user asks for it. The srcdoc also inherits the
// dashboard's own CSP (src/web/static-ui.ts), so scripts stay blocked whatever the meta says.
import { useState } from 'react';

const BLOCKED = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:";
const REMOTE = "default-src 'none'; img-src data: https: http:; style-src 'unsafe-inline' https: http:; font-src data: https: http:";

function srcdoc(html: string, allowRemote: boolean): string {
  // A meta refresh would navigate the frame to a remote page; CSP does not cover it.
  const cleaned = html.replace(/<meta[^>]+http-equiv\s*=\s*["']?refresh[^>]*>/gi, '');
  return `<!doctype html><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${allowRemote ? REMOTE : BLOCKED}">`
    + `<style>body{font-family:system-ui,sans-serif;margin:8px;color:#111;background:#fff}</style>${cleaned}`;
}

export function HtmlPreview({ html, title }: { html: string; title: string }) {
  const [remote, setRemote] = useState(false);
  const hasRemote = /\b(src|background)\s*=\s*["']?https?:|url\(\s*["']?https?:/i.test(html);
  return (
    <div className="html-preview">
      <div className="toolbar">
        {remote ? <span className="muted">Remote content is loaded.</span> : <span className="muted">Remote content is blocked.</span>}
        {hasRemote || remote ? (
          <button type="button" className="small" onClick={() => setRemote(!remote)}>
            {remote ? 'Block remote content' : 'Load remote content'}
          </button>
        ) : null}
      </div>
      <iframe title={title} sandbox="" srcDoc={srcdoc(html, remote)} referrerPolicy="no-referrer" />
    </div>
  );
}
