import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CsvError, MAX_CSV_FIELD_CHARS, csvField, csvRecords, csvRow, type CsvRecord } from '../../src/api/csv.ts';

async function parse(chunks: Array<string | Buffer>): Promise<CsvRecord[]> {
  const out: CsvRecord[] = [];
  for await (const r of csvRecords(chunks)) out.push(r);
  return out;
}

/** The text split into one-byte Buffers: every boundary a chunked upload could have. */
const bytewise = (text: string) => [...Buffer.from(text)].map((b) => Buffer.from([b]));

describe('RFC 4180 CSV', () => {
  it('§2.6: a quoted field holds commas and CRLF; §2.7: "" is one quote; records start on their first line', async () => {
    const text = 'a,b\r\n"x, y","line1\r\nline2 ""q"""\r\nlast,\r\n';
    const records = await parse([text]);
    assert.deepEqual(records.map((r) => [r.line, r.fields]), [[1, ['a', 'b']], [2, ['x, y', 'line1\r\nline2 "q"']], [4, ['last', '']]]);
  });

  it('reads the same records when every byte arrives alone (CRLF, "" and UTF-8 split across chunks)', async () => {
    const text = '\uFEFFnom,ville\r\n"Zoë ""Z""",Zürich\r\n"a\r\nb",東京\n';
    const whole = await parse([text]);
    assert.deepEqual(whole.map((r) => r.fields), [['nom', 'ville'], ['Zoë "Z"', 'Zürich'], ['a\r\nb', '東京']]);
    assert.deepEqual(await parse(bytewise(text)), whole);
  });

  it('skips blank lines, accepts LF alone and a last record without a line break', async () => {
    assert.deepEqual((await parse(['a\n\n\nb\nc'])).map((r) => [r.line, r.fields]), [[1, ['a']], [4, ['b']], [5, ['c']]]);
  });

  it('flags broken quoting on the record and carries on with the next one', async () => {
    const records = await parse(['"ok"x,1\na"b,2\n"open,3']);
    assert.match(records[0].error!, /after a closing quote/);
    assert.match(records[1].error!, /inside an unquoted field/);
    assert.equal(records[1].line, 2);
    assert.match(records[2].error!, /not closed/);
  });

  it('stops with CSV_FIELD_TOO_LONG on an unclosed quote that would swallow the file', async () => {
    await assert.rejects(parse(['a\n"', 'x'.repeat(MAX_CSV_FIELD_CHARS + 1)]), (e: unknown) => e instanceof CsvError && e.code === 'CSV_FIELD_TOO_LONG' && e.line === 2);
  });

  it('writes fields quoted only when they must be, with CRLF record ends', () => {
    assert.equal(csvRow(['plain', 'a,b', 'say "hi"', 'two\nlines', null, '']), 'plain,"a,b","say ""hi""","two\nlines",,\r\n');
    assert.equal(csvField('=1+1'), '=1+1');
  });

  it('property: whatever the fields, writing then reading (in any chunking) gives them back', async () => {
    const field = fc.string({ unit: fc.constantFrom('a', 'é', '"', ',', '\r', '\n', ' ', '東'), maxLength: 12 });
    const rows = fc.array(fc.array(field, { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 6 });
    await fc.assert(fc.asyncProperty(rows, fc.integer({ min: 1, max: 7 }), async (table, size) => {
      // A record of one empty field is a blank line, which the reader skips: give each row a marker.
      const marked = table.map((r) => ['#', ...r]);
      const bytes = Buffer.from(marked.map(csvRow).join(''));
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      assert.deepEqual((await parse(chunks)).map((r) => r.fields), marked);
    }), { numRuns: 300, seed: 4180 });
  });
});
