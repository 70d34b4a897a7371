// routing.test.mjs -- the official `openai` client against a hearth route
// ("model": "auto") that escalates to a second hearth standing in for the
// cloud: the client sees ordinary completions and streams either way.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import OpenAI from 'openai';

const HEARTH = process.env.HEARTH_BIN ?? '../../build/hearth';
const MODEL = process.env.HEARTH_TEST_MODEL ?? '../../models/stories260k.gguf';
const procs = [];
let client;

async function serve(args, env = {}) {
  const proc = spawn(HEARTH, ['serve', MODEL, '--port', '0', '-t', '1', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  procs.push(proc);
  let out = '';
  while (!/listening on http:\/\/127\.0\.0\.1:(\d+)/.test(out)) {
    const [chunk] = await once(proc.stdout, 'data');
    out += chunk;
  }
  const port = Number(out.match(/127\.0\.0\.1:(\d+)/)[1]);
  for (let i = 0; i < 300; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
    if (r && r.status === 200) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  return port;
}

before(async () => {
  const cloud = await serve(['--api-key', 'cloud-key']);
  const dir = mkdtempSync(join(tmpdir(), 'hearth-node-'));
  const cfg = join(dir, 'hearth.yaml');
  writeFileSync(cfg, `upstreams:
  cloud: {base_url: "http://127.0.0.1:${cloud}/v1", model: stories260k, api_key_env: NODE_TEST_CLOUD_KEY}
routes:
  auto: {policy: local_first, upstream: cloud, threshold: 1}
  local: {policy: local_only}
`);
  const gw = await serve(['--config', cfg], { NODE_TEST_CLOUD_KEY: 'cloud-key' });
  client = new OpenAI({ baseURL: `http://127.0.0.1:${gw}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  for (const p of procs.reverse()) {
    p.kill('SIGTERM');
    const [code] = await once(p, 'exit');
    assert.equal(code, 0);
  }
});

const ask = { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 12, temperature: 0 };

test('routes are listed as models', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('auto') && ids.includes('local') && ids.includes('stories260k'));
});

test('an escalated answer is an ordinary completion with a hearth object', async () => {
  const { data, response } = await client.chat.completions
    .create({ ...ask, model: 'auto' }).withResponse();
  assert.equal(response.headers.get('x-hearth-route'), 'cloud');
  assert.ok(data.choices[0].message.content.length > 0);
  assert.equal(data.hearth.route, 'cloud');
  assert.equal(data.hearth.escalation_reason, 'low_confidence');
});

test('an escalated stream reads like any other', async () => {
  const local = await client.chat.completions.create({ ...ask, model: 'local' });
  const stream = await client.chat.completions.create({ ...ask, model: 'auto', stream: true });
  let text = '';
  let last;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    last = chunk;
  }
  assert.ok(text.length > 0);
  assert.equal(last.hearth.route, 'cloud');
  assert.equal(local.hearth.route, 'local');
});
