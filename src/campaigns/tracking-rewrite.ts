// Click and open tracking of an HTML body, done with a real HTML parser (htmlparser2), not a
// regex: the tokenizer finds each <a>/<area> start tag as a browser would (comments, scripts,
// quoted attributes containing ">" are its business), and only the source span of that tag
// is replaced, so the rest of the document stays byte for byte as the template made it.
// Only http(s) links are rewritten; mailto:, tel:, anchors, the unsubscribe link and links
// marked `data-pl-notrack` are left alone. The open pixel goes just before </body>.
import { Parser } from 'htmlparser2';

export interface TrackingRewriteOptions {
  /** The tracked URL for an original one; null: clicks are not tracked. */
  readonly clickUrl: ((url: string) => string) | null;
  /** The 1×1 image URL; null: opens are not tracked. */
  readonly openPixelUrl: string | null;
  /** URLs never rewritten (the unsubscribe link: a scanner following it must not count as a click). */
  readonly keep?: (url: string) => boolean;
}

/** A double-quoted attribute value as the rewrite writes it (campaign-message.ts fills its template's link slots the same way). */
export function escapeAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// <a> and <area> are never self-closing in HTML (a trailing "/" belongs to an unquoted value).
function startTag(name: string, attribs: Record<string, string>): string {
  const attrs = Object.entries(attribs).map(([k, v]) => (v === '' && k !== 'href' ? ` ${k}` : ` ${k}="${escapeAttr(v)}"`)).join('');
  return `<${name}${attrs}>`;
}

/** The body with links and the pixel rewritten; unchanged when neither is on. */
export function rewriteHtmlForTracking(html: string, options: TrackingRewriteOptions): string {
  const edits: Array<{ start: number; end: number; text: string }> = [];
  let bodyClose = -1;
  const parser = new Parser({
    onopentag(name, attribs) {
      if (!options.clickUrl || (name !== 'a' && name !== 'area')) return;
      const href = attribs.href?.trim();
      if (!href || !/^https?:\/\//i.test(href) || 'data-pl-notrack' in attribs || options.keep?.(href)) return;
      const start = parser.startIndex;
      const end = parser.endIndex + 1;
      edits.push({ start, end, text: startTag(name, { ...attribs, href: options.clickUrl(href) }) });
    },
    onclosetag(name) {
      if (name === 'body' && bodyClose < 0) bodyClose = parser.startIndex;
    },
  }, { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true });
  parser.end(html);
  if (options.openPixelUrl) {
    const pixel = `<img src="${escapeAttr(options.openPixelUrl)}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px" />`;
    // A </body> the parser saw in the source (an implied one has no span: append instead).
    const at = bodyClose >= 0 && html.slice(bodyClose, bodyClose + 7).toLowerCase() === '</body>' ? bodyClose : html.length;
    edits.push({ start: at, end: at, text: pixel });
  }
  if (edits.length === 0) return html;
  edits.sort((a, b) => a.start - b.start);
  let out = '';
  let pos = 0;
  for (const e of edits) {
    out += html.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + html.slice(pos);
}

/** The http(s) links of an HTML body, in document order (reports, tests). */
export function htmlLinks(html: string): string[] {
  const out: string[] = [];
  const parser = new Parser({
    onopentag(name, attribs) {
      if ((name === 'a' || name === 'area') && attribs.href) out.push(attribs.href);
    },
  }, { decodeEntities: true });
  parser.end(html);
  return out;
}
