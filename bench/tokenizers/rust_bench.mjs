// HF tokenizers (Rust crate via the @anush008/tokenizers N-API addon) on the corpus written by
// `ipfs-accelerate bench-tokenizer`. Usage: node rust_bench.mjs <tokenizer.json[.gz]> <docs.json>
// Prints one JSON line: {"seconds", "bytes", "tokens", "checksum"}. Thread count: RAYON_NUM_THREADS.
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Tokenizer } = require("@anush008/tokenizers");

const [tokPath, docsPath] = process.argv.slice(2);
let file = tokPath;
if (tokPath.endsWith(".gz")) {
  file = join(mkdtempSync(join(tmpdir(), "ia-tok-")), "tokenizer.json");
  writeFileSync(file, gunzipSync(readFileSync(tokPath)));
}
const tokenizer = Tokenizer.fromFile(file);
const docs = JSON.parse(readFileSync(docsPath, "utf8"));
const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, "utf8"), 0);
const opts = { addSpecialTokens: false };

await tokenizer.encodeBatch(docs.slice(0, 64), opts);  // warm-up
const t0 = process.hrtime.bigint();
const encs = [];
const chunk = 4096;
for (let i = 0; i < docs.length; i += chunk) encs.push(...(await tokenizer.encodeBatch(docs.slice(i, i + chunk), opts)));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

let tokens = 0, checksum = 0;
for (const e of encs) {
  const ids = e.getIds();
  tokens += ids.length;
  for (let k = 0; k < ids.length; ++k) checksum = (Math.imul(checksum, 31) + ids[k]) >>> 0;
}
console.log(JSON.stringify({ seconds, bytes, tokens, checksum }));
