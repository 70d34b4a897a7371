// openai.test.mjs -- the official `openai` npm client, unmodified, against a
// real `hearth serve` started here on a free loopback port.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import OpenAI from 'openai';

const HEARTH = process.env.HEARTH_BIN ?? '../../build/hearth';
const MODEL = process.env.HEARTH_TEST_MODEL ?? '../../models/stories260k.gguf';
const KEY = 'sk-test-key';
const REFERENCE = ', there was a little girl named Lily. She loved to play outside in the park. ' +
  'One day, she saw a big, red ball.';

let proc;
let client;
let baseURL;

before(async () => {
  proc = spawn(HEARTH, ['serve', MODEL, '--port', '0', '-t', '2', '--api-key', KEY],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  while (!/listening on (http:\/\/127\.0\.0\.1:\d+)/.test(out)) {
    const [chunk] = await once(proc.stdout, 'data');
    out += chunk;
  }
  baseURL = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/)[1] + '/v1';
  for (let i = 0; i < 300; i++) {
    const r = await fetch(baseURL.replace('/v1', '/health')).catch(() => null);
    if (r && r.status === 200) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  client = new OpenAI({ baseURL, apiKey: KEY, maxRetries: 0 });
});

after(async () => {
  proc.kill('SIGTERM');
  const [code] = await once(proc, 'exit');
  assert.equal(code, 0);
});

test('models.list shows the served model', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['stories260k']);
  const one = await client.models.retrieve('stories260k');
  assert.equal(one.id, 'stories260k');
});

test('completions.create reproduces the reference text', async () => {
  const r = await client.completions.create({
    model: 'stories260k', prompt: 'Once upon a time', max_tokens: 40, temperature: 0,
  });
  assert.equal(r.choices[0].text, REFERENCE);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 40);
});

test('chat stream reassembles to the non-stream answer', async () => {
  const params = {
    model: 'stories260k', temperature: 0, max_tokens: 30,
    messages: [{ role: 'system', content: 'Tell a story.' }, { role: 'user', content: 'A fox' }],
  };
  const whole = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({
    ...params, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 30);
  assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);
});

test('chat logprobs', async () => {
  const r = await client.chat.completions.create({
    model: 'stories260k', temperature: 0, max_tokens: 5, logprobs: true, top_logprobs: 2,
    messages: [{ role: 'user', content: 'Hi' }],
  });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 5);
  for (const e of content) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 2);
  }
  assert.equal(content.map((e) => e.token).join(''), r.choices[0].message.content);
});

test('embeddings.create (the SDK asks for base64 and decodes it)', async () => {
  const r = await client.embeddings.create({ model: 'stories260k', input: ['a cat', 'a dog'] });
  assert.equal(r.data.length, 2);
  const v = r.data[0].embedding;
  assert.equal(v.length, 64);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(norm - 1) < 1e-4);
  const f = await client.embeddings.create({
    model: 'stories260k', input: 'a cat', encoding_format: 'float',
  });
  assert.ok(f.data[0].embedding.every((x, i) => Math.abs(x - v[i]) < 1e-6));
});

test('errors surface as the client\'s APIError with the right status', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found');
  await assert.rejects(
    client.chat.completions.create({
      model: 'stories260k', max_tokens: 0, messages: [{ role: 'user', content: 'x' }],
    }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'max_tokens');
  const anon = new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(anon.models.list(),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});
