// lib.mjs -- what the benchmark drivers share: starting `hearth serve` on a
// free port and waiting until it is healthy.
import { spawn } from 'node:child_process';
import { once } from 'node:events';

// Start `hearth serve MODEL --port 0 ARGS...`; resolves to { proc, port }
// once /health answers 200.
export async function serveHearth(bin, model, args) {
  const proc = spawn(bin, ['serve', model, '--port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  while (!/listening on http:\/\/127\.0\.0\.1:(\d+)/.test(out)) {
    const [chunk] = await once(proc.stdout, 'data');
    out += chunk;
  }
  const port = Number(out.match(/127\.0\.0\.1:(\d+)/)[1]);
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
    if (r && r.status === 200) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  return { proc, port };
}
