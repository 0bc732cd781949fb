// V8 settings Postline runs with: `npm start`, `npm run postline` and the `postline` command
// (bin/postline.js) pass them to node; bench/ starts its servers with them too, so what it
// measures is what users run. test/cli/node-flags.test.ts keeps those places in step.
//
// --max-semi-space-size=16 (MB): Node 24 lets V8's young generation grow to 2 × 64 MB, which
// a server that keeps batches alive across a commit (the write batcher, campaign expansion,
// CSV import) fills: measured on this 2-core machine (BENCHMARKS.md), the 200,000-contact
// campaign expansion peaked at 416 MB RSS by default and 341 MB at 16 MB, no slower
// (13,453 vs 14,423 messages/s); API single sends at 50 clients had p99 34/31 ms by default
// and 27/25 ms at 16 (max 309/453 vs 194/178 ms: shorter scavenges). 8 and 32 measured no
// better than 16.
//
// --max-old-space-size=1536 (MB): V8 lets the old generation grow to a multiple of what is
// live before a full collection, and the multiple follows this limit (up to 4 when it is
// large, as Node's default is on a big machine). Postline's live heap is small (~40 MB:
// bodies stream to the database or the spool), but garbage promoted by imports and
// expansions was let grow to ~200 MB: the 400,000-row import peaked at 367 MB RSS and the
// 200,000 expansion at 341 MB; at 1536 they peaked at 277 and 284 MB, as fast (2048: 370
// and 336 MB; 1024: 266 and 274 MB). The limit is the heap's: a process that needs more
// (thousands of maximum-size API requests at once) stops with an out-of-memory error and
// loses nothing accepted; raise it by starting node with a larger value.
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16', '--max-old-space-size=1536'];
