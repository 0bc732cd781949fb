import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ComposeError, TemplateRenderer } from '../../src/compose/index.ts';

const tpl = (fields: { subject?: string | null; html?: string | null; text?: string | null }) => ({ id: 'tpl_test', subject: null, html: null, text: null, ...fields });

describe('TemplateRenderer: Handlebars subject, html and text', () => {
  it('HTML-escapes {{value}} in html only; {{{value}}} stays raw; subject and text are never escaped', () => {
    const r = new TemplateRenderer();
    const out = r.render(tpl({ subject: 'Hi {{name}}', html: '<p>{{name}}</p>{{{raw}}}', text: 'Hello {{name}}' }), { name: 'Tom & <Jerry>', raw: '<b>x</b>' });
    assert.deepEqual(out, { subject: 'Hi Tom & <Jerry>', html: '<p>Tom &amp; &lt;Jerry&gt;</p><b>x</b>', text: 'Hello Tom & <Jerry>' });
  });

  it('renders a missing value as empty (strict mode off) and walks nested data', () => {
    const r = new TemplateRenderer();
    const out = r.render(tpl({ text: '{{missing}}|{{order.id}}|{{#each items}}{{this}},{{/each}}' }), { order: { id: 7 }, items: ['a', 'b'] });
    assert.equal(out.text, '|7|a,b,');
  });

  it('refuses a source that does not compile, naming the field (pointer /html)', () => {
    const r = new TemplateRenderer();
    assert.throws(() => r.assertValid({ subject: 'ok', html: '<p>{{#if x}}</p>' }), (err: ComposeError) => err.code === 'TEMPLATE_INVALID' && err.pointer === '/html' && err.kind === 'unprocessable');
    r.assertValid({ subject: '{{a}}', html: null, text: '{{#if a}}y{{/if}}' });
  });

  it('turns a render-time error into TEMPLATE_RENDER_FAILED naming the field (pointer /text)', () => {
    const r = new TemplateRenderer();
    assert.throws(() => r.render(tpl({ subject: 'fine', text: 'x {{> missingPartial}}' }), {}),
      (err: ComposeError) => err.code === 'TEMPLATE_RENDER_FAILED' && err.pointer === '/text' && /missingPartial/.test(err.message));
    assert.throws(() => r.render(tpl({ subject: '{{#each}}' }), {}), (err: ComposeError) => err.pointer === '/subject');
  });

  it('keeps prototype properties out of reach (Handlebars prototype-access protection)', () => {
    const r = new TemplateRenderer();
    assert.equal(r.render(tpl({ text: '[{{constructor.name}}][{{__proto__}}]' }), {}).text, '[][]');
  });

  it('renders an edited source anew (the cache is keyed by the source text)', () => {
    const r = new TemplateRenderer();
    assert.equal(r.render(tpl({ text: 'A {{x}}' }), { x: 1 }).text, 'A 1');
    assert.equal(r.render(tpl({ text: 'B {{x}}' }), { x: 1 }).text, 'B 1');
  });
});
