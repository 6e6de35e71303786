// Independent CIDs from the JavaScript IPFS importer (ipfs-unixfs-importer), with kubo's `ipfs add
// --cid-version 1` defaults spelled out. Usage: node cid.mjs PATH...  -> one JSON object {PATH: CID}.
// A directory is imported recursively (hidden entries skipped, as kubo does without --hidden).
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { MemoryBlockstore } from 'blockstore-core/memory'
import fs from 'node:fs'
import path from 'node:path'

const options = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize: 262144 }),
  layout: balanced({ maxChildrenPerNode: 174 }),
  wrapWithDirectory: false
}

function * walk (abs, rel) {
  const st = fs.statSync(abs)
  if (st.isDirectory()) {
    const names = fs.readdirSync(abs).filter(n => !n.startsWith('.')).sort()
    if (names.length === 0) yield { path: rel }
    for (const n of names) yield * walk(path.join(abs, n), rel + '/' + n)
  } else {
    yield { path: rel, content: fs.readFileSync(abs) }
  }
}

const out = {}
for (const p of process.argv.slice(2)) {
  const name = path.basename(p)
  let last
  for await (const entry of importer(walk(p, name), new MemoryBlockstore(), options)) {
    if (entry.path === name) last = entry
  }
  out[p] = last.cid.toString()
}
process.stdout.write(JSON.stringify(out) + '\n')
