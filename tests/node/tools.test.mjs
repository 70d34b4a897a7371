// tools.test.mjs -- the official `openai` client calling tools through a
// hearth route whose upstream speaks the Anthropic Messages API (a stand-in
// written here from its public reference): the SDK's own stream helper must
// assemble the converted chunks into the same tool call as the whole answer.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import OpenAI from 'openai';

const HEARTH = process.env.HEARTH_BIN ?? '../../build/hearth';
const MODEL = process.env.HEARTH_TEST_MODEL ?? '../../models/stories260k.gguf';
const INPUT = { city: 'Paris', units: 'metric' };
let gw;
let stand;
let client;
const seen = [];

function toolUse(req) {
  return { type: 'tool_use', id: 'toolu_07', name: req.tools[0].name, input: INPUT };
}

function events(req) {
  const args = JSON.stringify(INPUT);
  const ev = [
    ['message_start', { type: 'message_start', message: { id: 'msg_07', type: 'message',
      role: 'assistant', model: req.model, content: [], usage: { input_tokens: 9, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0,
      content_block: { ...toolUse(req), input: {} } }],
  ];
  for (let i = 0; i < args.length; i += 5) {
    ev.push(['content_block_delta', { type: 'content_block_delta', index: 0,
      delta: { type: 'input_json_delta', partial_json: args.slice(i, i + 5) } }]);
  }
  ev.push(['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use' },
      usage: { output_tokens: 12 } }],
    ['message_stop', { type: 'message_stop' }]);
  return ev.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join('');
}

function anthropic(req, res) {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const r = JSON.parse(body);
    seen.push(r);
    if (r.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(events(r));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'msg_07', type: 'message', role: 'assistant', model: r.model,
      content: [toolUse(r)], stop_reason: 'tool_use', usage: { input_tokens: 9, output_tokens: 12 } }));
  });
}

before(async () => {
  stand = createServer(anthropic).listen(0, '127.0.0.1');
  await once(stand, 'listening');
  const dir = mkdtempSync(join(tmpdir(), 'hearth-tools-'));
  const cfg = join(dir, 'hearth.yaml');
  writeFileSync(cfg, `upstreams:
  claude: {kind: anthropic, base_url: "http://127.0.0.1:${stand.address().port}/v1", model: claude-test}
routes:
  auto: {policy: local_first, upstream: claude}
`);
  gw = spawn(HEARTH, ['serve', MODEL, '--port', '0', '-t', '1', '--config', cfg],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  while (!/listening on http:\/\/127\.0\.0\.1:(\d+)/.test(out)) {
    const [chunk] = await once(gw.stdout, 'data');
    out += chunk;
  }
  const port = Number(out.match(/127\.0\.0\.1:(\d+)/)[1]);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  gw.kill('SIGTERM');
  const [code] = await once(gw, 'exit');
  stand.close();
  assert.equal(code, 0);
});

const ask = {
  model: 'auto',
  messages: [{ role: 'user', content: 'Weather in Paris?' }],
  tools: [{ type: 'function', function: { name: 'get_weather', parameters: {
    type: 'object', properties: { city: { type: 'string' } } } } }],
};

test('a tool call, whole and streamed, as the SDK reads it', async () => {
  const whole = await client.chat.completions.create(ask);
  assert.equal(whole.choices[0].finish_reason, 'tool_calls');
  assert.equal(whole.hearth.escalation_reason, 'tools');
  const call = whole.choices[0].message.tool_calls[0];
  assert.deepEqual(JSON.parse(call.function.arguments), INPUT);
  assert.deepEqual(seen.at(-1).tools[0].input_schema, ask.tools[0].function.parameters);

  const stream = client.chat.completions.stream({ ...ask, stream: true });
  const done = await stream.finalChatCompletion();
  const streamed = done.choices[0].message.tool_calls[0];
  assert.equal(done.choices[0].finish_reason, 'tool_calls');
  assert.equal(streamed.id, call.id);
  assert.equal(streamed.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(streamed.function.arguments), INPUT);
});
