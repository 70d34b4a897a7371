// serve-bench.mjs -- hearth serve against llama.cpp's llama-server, same
// model, threads, slots and context, same load generator, one after the
// other in the same run.
//
// usage: node bench/serve-bench.mjs HEARTH LLAMA_SERVER LOADGEN MODEL
// env:   THREADS (default: cores), SLOTS (16), CTX (SLOTS*512), MAX_TOKENS (128),
//        REQUESTS (requests per client, 8), REPS (3), CLIENTS ("1,4,8,16")
//
// For every N in CLIENTS and every rep, the two servers take turns, so drift
// in machine load hits both alike; each figure is the median over reps.
// Writes bench/results/latest.json and latest.md (the markdown table it prints).
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [hearthBin, llamaBin, loadgen, model] = process.argv.slice(2);
if (!model) {
  console.error('usage: node bench/serve-bench.mjs HEARTH LLAMA_SERVER LOADGEN MODEL');
  process.exit(2);
}
const env = process.env;
const threads = Number(env.THREADS ?? cpus().length);
const slots = Number(env.SLOTS ?? 16);
const ctx = Number(env.CTX ?? slots * 512);
const maxTokens = Number(env.MAX_TOKENS ?? 128);
const requests = Number(env.REQUESTS ?? 8);
const reps = Number(env.REPS ?? 3);
const clients = (env.CLIENTS ?? '1,4,8,16').split(',').map(Number);

function freePortish(base) { return base + Math.floor(Math.random() * 1000); }

async function waitHealthy(port, proc, name) {
  for (let i = 0; i < 1200; i++) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}`);
    const r = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
    if (r && r.status === 200) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${name} never became healthy`);
}

async function start(name, bin, args, port) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  await waitHealthy(port, proc, name);
  return { name, proc, port };
}

function peakRssMiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

// A failed request is counted and reported, not fatal: llama-server now and
// then closes a kept-alive connection under the client (curl reports it).
function runLoad(server, n) {
  let out;
  try {
    out = execFileSync(loadgen, [
    '--url', `http://127.0.0.1:${server.port}`, '--clients', String(n),
    '--requests', String(requests), '--max-tokens', String(maxTokens), '--label', server.name,
    '--model', basename(model).replace(/\.gguf$/, ''),
    ], { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    if (e.status !== 1 || !e.stdout) throw e;
    out = e.stdout;
  }
  const r = JSON.parse(out);
  if (r.requests_failed === r.requests_total) throw new Error(`${server.name}: every request failed`);
  return r;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function summarize(runs) {
  return {
    agg_tok_s: median(runs.map((r) => r.agg_tok_s)),
    ttft_p50_ms: median(runs.map((r) => r.ttft_ms.p50)),
    ttft_p99_ms: median(runs.map((r) => r.ttft_ms.p99)),
    itl_p50_ms: median(runs.map((r) => r.itl_ms.p50)),
    itl_p99_ms: median(runs.map((r) => r.itl_ms.p99)),
    latency_p50_ms: median(runs.map((r) => r.latency_ms.p50)),
    latency_p99_ms: median(runs.map((r) => r.latency_ms.p99)),
    failed: runs.reduce((a, r) => a + r.requests_failed, 0),
  };
}

const hPort = freePortish(20000);
const lPort = freePortish(22000);
const common = ['-t', String(threads), '-c', String(ctx)];
const hearth = await start('hearth', hearthBin,
  ['serve', model, '--port', String(hPort), '-p', String(slots), ...common,
    '--audit-db', join(mkdtempSync(join(tmpdir(), 'hearth-bench-')), 'audit.db')], hPort);
const llama = await start('llama-server', llamaBin,
  ['-m', model, '--host', '127.0.0.1', '--port', String(lPort), '-np', String(slots),
    '--no-webui', ...common], lPort);
console.error(`servers up: hearth :${hPort}, llama-server :${lPort}; ` +
  `${threads} threads, ${slots} slots, ctx ${ctx}, ${maxTokens} tokens x ${requests} requests/client`);

const results = [];
try {
  for (const s of [hearth, llama]) runLoad(s, 2); // warm-up
  for (const n of clients) {
    const runs = { hearth: [], llama: [] };
    for (let i = 0; i < reps; i++) {
      runs.hearth.push(runLoad(hearth, n));
      runs.llama.push(runLoad(llama, n));
    }
    const h = summarize(runs.hearth);
    const l = summarize(runs.llama);
    results.push({ clients: n, hearth: h, llama_server: l });
    console.error(`N=${n}: hearth ${h.agg_tok_s.toFixed(0)} tok/s, llama-server ${l.agg_tok_s.toFixed(0)} tok/s`);
  }
} finally {
  var rss = { hearth: peakRssMiB(hearth.proc.pid), llama_server: peakRssMiB(llama.proc.pid) };
  for (const s of [hearth, llama]) {
    s.proc.kill('SIGTERM');
    await once(s.proc, 'exit');
  }
}

const r3 = (x) => Math.round(x * 1000) / 1000;
const fmt = (x, d = 1) => x.toFixed(d);
const lines = [
  `model ${model}, ${threads} threads, ${slots} slots, context ${ctx}, ${maxTokens} tokens/request, ` +
  `${requests} requests/client, median of ${reps}`,
  '',
  '| N | server | agg tok/s | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 | latency p50 | latency p99 | failed |',
  '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
];
for (const r of results) {
  for (const [name, v] of [['hearth', r.hearth], ['llama-server', r.llama_server]]) {
    lines.push(`| ${r.clients} | ${name} | ${fmt(v.agg_tok_s, 0)} | ${fmt(v.ttft_p50_ms)} ms | ` +
      `${fmt(v.ttft_p99_ms)} ms | ${fmt(v.itl_p50_ms, 2)} ms | ${fmt(v.itl_p99_ms, 2)} ms | ` +
      `${fmt(v.latency_p50_ms)} ms | ${fmt(v.latency_p99_ms)} ms | ${v.failed} |`);
  }
  const h = r.hearth;
  const l = r.llama_server;
  r.ratio = {
    agg_tok_s: r3(h.agg_tok_s / l.agg_tok_s), ttft_p50: r3(h.ttft_p50_ms / l.ttft_p50_ms),
    ttft_p99: r3(h.ttft_p99_ms / l.ttft_p99_ms), itl_p50: r3(h.itl_p50_ms / l.itl_p50_ms),
    itl_p99: r3(h.itl_p99_ms / l.itl_p99_ms), latency_p50: r3(h.latency_p50_ms / l.latency_p50_ms),
    latency_p99: r3(h.latency_p99_ms / l.latency_p99_ms),
  };
  const q = r.ratio;
  lines.push(`| ${r.clients} | **ratio** | **${q.agg_tok_s}** | **${q.ttft_p50}** | ${q.ttft_p99} | ` +
    `${q.itl_p50} | ${q.itl_p99} | ${q.latency_p50} | ${q.latency_p99} | |`);
}
lines.push('', `peak RSS: hearth ${fmt(rss.hearth)} MiB, llama-server ${fmt(rss.llama_server)} MiB ` +
  `(difference ${fmt(rss.hearth - rss.llama_server)} MiB)`);
console.log(lines.join('\n'));

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'latest.md'), lines.join('\n') + '\n');
writeFileSync(join(here, 'results', 'latest.json'), JSON.stringify({
  date: new Date().toISOString(), model, threads, slots, ctx, max_tokens: maxTokens,
  requests_per_client: requests, reps, peak_rss_mib: rss, results,
}, null, 2) + '\n');
