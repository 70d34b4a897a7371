// fake-upstream.mjs -- an OpenAI-compatible chat endpoint that answers at
// once with max_tokens canned chunks, so a benchmark of what sits in front of
// it measures that and not a model competing for the same CPU cores.
// With FAKE_TTFT_MS and FAKE_ITL_MS set it paces its answer like a cloud API
// (first token after TTFT, then one every ITL), so that load is bound by
// waiting rather than by CPU.
// usage: node bench/fake-upstream.mjs   (prints "listening PORT")
import { createServer } from 'node:http';

const ttft = Number(process.env.FAKE_TTFT_MS ?? 0);
const itl = Number(process.env.FAKE_ITL_MS ?? 0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', async () => {
    let r;
    try { r = JSON.parse(body); } catch { res.writeHead(400).end('{}'); return; }
    const n = Math.max(1, Math.min(r.max_tokens ?? 16, 4096));
    const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model: r.model };
    if (!r.stream) {
      if (ttft) await sleep(ttft + itl * n);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0,
        message: { role: 'assistant', content: 'tok '.repeat(n) }, finish_reason: 'length' }],
        usage: { prompt_tokens: 5, completion_tokens: n, total_tokens: n + 5 } }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const chunk = (delta, fin) => `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta,
      finish_reason: fin }] })}\n\n`;
    if (ttft) await sleep(ttft);
    res.write(chunk({ role: 'assistant', content: '' }, null));
    for (let i = 0; i < n; i++) {
      if (itl && i) await sleep(itl);
      res.write(chunk({ content: 'tok ' }, null));
    }
    res.write(chunk({}, 'length'));
    res.end('data: [DONE]\n\n');
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
