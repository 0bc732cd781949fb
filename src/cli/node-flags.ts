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
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
