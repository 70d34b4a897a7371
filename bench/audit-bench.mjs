// audit-bench.mjs -- what the audit log costs the serving path: the same
// load against hearth with the audit log on (a fresh SQLite file) and off,
// taking turns in the same run so drift in machine load hits both alike.
//
// usage: node bench/audit-bench.mjs HEARTH LOADGEN MODEL
// env:   THREADS (default: cores), SLOTS (16), MAX_TOKENS (128), REQUESTS (8),
//        REPS (5), CLIENTS ("1,16")
// Writes bench/results/audit.json and prints a markdown table.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveHearth } from './lib.mjs';

const [hearthBin, loadgen, model] = process.argv.slice(2);
if (!model) {
  console.error('usage: node bench/audit-bench.mjs HEARTH LOADGEN MODEL');
  process.exit(2);
}
const env = process.env;
const threads = Number(env.THREADS ?? cpus().length);
const slots = Number(env.SLOTS ?? 16);
const maxTokens = Number(env.MAX_TOKENS ?? 128);
const requests = Number(env.REQUESTS ?? 8);
const reps = Number(env.REPS ?? 5);
const clients = (env.CLIENTS ?? '1,16').split(',').map(Number);
const modelId = basename(model).replace(/\.gguf$/, '');

function serve(auditDb) {
  return serveHearth(hearthBin, model, ['-t', String(threads), '-p', String(slots),
    '-c', String(slots * 512), '--audit-db', auditDb]);
}

function load(port, n) {
  const out = execFileSync(loadgen, ['--url', `http://127.0.0.1:${port}`, '--clients', String(n),
    '--requests', String(requests), '--max-tokens', String(maxTokens), '--model', modelId],
  { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dir = mkdtempSync(join(tmpdir(), 'hearth-audit-bench-'));
const on = await serve(join(dir, 'audit.db'));
const off = await serve('off');
const rows = [];
try {
  load(on.port, 2);
  load(off.port, 2);
  for (const n of clients) {
    const a = [];
    const b = [];
    for (let i = 0; i < reps; i++) {
      a.push(load(on.port, n).agg_tok_s);
      b.push(load(off.port, n).agg_tok_s);
    }
    rows.push({ clients: n, audit_on_tok_s: median(a), audit_off_tok_s: median(b),
      ratio: median(a) / median(b) });
  }
} finally {
  for (const s of [on, off]) {
    s.proc.kill('SIGTERM');
    await once(s.proc, 'exit');
  }
}
const rows_written = execFileSync(hearthBin, ['audit', 'verify', '--db', join(dir, 'audit.db')],
  { encoding: 'utf8' }).trim();
const lines = [
  `audit log on vs off: ${modelId}, ${threads} threads, ${slots} slots, ${maxTokens} tokens, ` +
  `${requests} requests/client, median of ${reps} (${rows_written})`, '',
  '| N | audit on tok/s | audit off tok/s | on / off |', '|---:|---:|---:|---:|'];
for (const r of rows) {
  lines.push(`| ${r.clients} | ${r.audit_on_tok_s.toFixed(0)} | ${r.audit_off_tok_s.toFixed(0)} | ` +
    `**${r.ratio.toFixed(3)}** |`);
}
console.log(lines.join('\n'));
const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'audit.json'), JSON.stringify({
  date: new Date().toISOString(), model, threads, slots, max_tokens: maxTokens,
  requests_per_client: requests, reps, verify: rows_written, results: rows }, null, 2) + '\n');
writeFileSync(join(here, 'results', 'audit.md'), lines.join('\n') + '\n');
