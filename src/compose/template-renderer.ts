// Handlebars templates (subject, html, text) rendered with a request's `data`. One isolated
// Handlebars environment per renderer (Handlebars.create()), so nothing registered
// elsewhere (helpers, partials) leaks into tenants' templates. html escapes `{{x}}` by
// default; subject and text are not HTML, so they are compiled with noEscape. Compiled
// sources are cached by their text (an edited template is a new source: nothing goes stale).
import Handlebars from 'handlebars';
import { ComposeError } from './compose-error.ts';

export const TEMPLATE_FIELDS = ['subject', 'html', 'text'] as const;
export type TemplateField = (typeof TEMPLATE_FIELDS)[number];

export interface TemplateSource {
  /** Named in error messages. */
  readonly id: string;
  readonly subject: string | null;
  readonly html: string | null;
  readonly text: string | null;
}

export type RenderedTemplate = Record<TemplateField, string | null>;

// Bounds on the cache: entries, and characters of source held.
const MAX_CACHED = 500;
const MAX_CACHED_CHARS = 8 * 1024 * 1024;

function detail(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length > 500 ? `${message.slice(0, 500)}…` : message;
}

export class TemplateRenderer {
  readonly #hb = Handlebars.create();
  /** `field NUL source` → compiled template, least recently used first. */
  readonly #cache = new Map<string, HandlebarsTemplateDelegate>();
  #cachedChars = 0;

  /**
   * Parses each given source; throws a ComposeError (`TEMPLATE_INVALID`, pointer `/<field>`)
   * for the first that is not a valid Handlebars template.
   */
  assertValid(fields: Partial<Record<TemplateField, string | null>>): void {
    for (const field of TEMPLATE_FIELDS) {
      const source = fields[field];
      if (source == null) continue;
      try {
        this.#hb.precompile(source, { strict: false });
      } catch (err) {
        throw new ComposeError('TEMPLATE_INVALID', 'unprocessable', `/${field}`, `template ${field}: ${detail(err)}`, { cause: err });
      }
    }
  }

  /** Renders every field the template has; throws ComposeError `TEMPLATE_RENDER_FAILED` naming the field. */
  render(template: TemplateSource, data: Record<string, unknown>): RenderedTemplate {
    const out: RenderedTemplate = { subject: null, html: null, text: null };
    for (const field of TEMPLATE_FIELDS) {
      const source = template[field];
      if (source == null) continue;
      try {
        // Prototype properties and methods stay blocked (Handlebars ≥ 4.6 defaults).
        out[field] = this.#compiled(field, source)(data, { allowProtoMethodsByDefault: false, allowProtoPropertiesByDefault: false });
      } catch (err) {
        throw new ComposeError('TEMPLATE_RENDER_FAILED', 'unprocessable', `/${field}`, `template ${template.id} field ${field}: ${detail(err)}`, { cause: err });
      }
    }
    return out;
  }

  #compiled(field: TemplateField, source: string): HandlebarsTemplateDelegate {
    const key = `${field}\0${source}`;
    let fn = this.#cache.get(key);
    if (fn) {
      // Map order is insertion order: re-inserting keeps recently used entries last.
      this.#cache.delete(key);
    } else {
      // Handlebars compiles lazily: a syntax error surfaces at the first render, with its field.
      fn = this.#hb.compile(source, { strict: false, noEscape: field !== 'html' });
      this.#cachedChars += key.length;
      while (this.#cache.size > 0 && (this.#cache.size >= MAX_CACHED || this.#cachedChars > MAX_CACHED_CHARS)) {
        const oldest = this.#cache.keys().next().value!;
        this.#cache.delete(oldest);
        this.#cachedChars -= oldest.length;
      }
    }
    this.#cache.set(key, fn);
    return fn;
  }
}
