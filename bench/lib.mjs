// lib.mjs -- what the benchmark drivers share: starting `hearth serve` on a
// free port and waiting until it is healthy, pinning processes to CPUs, and
// reading a process's CPU time.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

// Start `hearth serve MODEL --port 0 ARGS...` (under the command PREFIX, such
// as taskset, when given); resolves to { proc, port } once /health answers 200.
export async function serveHearth(bin, model, args, prefix = []) {
  const argv = [...prefix, bin, 'serve', model, '--port', '0', ...args];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
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

// Two disjoint CPU sets, "world" (load generator, upstream) and "gateway",
// as taskset prefixes; null when pinning is off (PIN=0), there is only one
// CPU or taskset is missing.
export function cpuSplit() {
  const n = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  if (process.env.PIN === '0' || n < 2) return null;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const half = Math.floor(n / 2);
  const list = (a, b) => (a === b - 1 ? `${a}` : `${a}-${b - 1}`);
  return { world: ['taskset', '-c', list(0, half)], gateway: ['taskset', '-c', list(half, n)] };
}

// CPU seconds a running process's threads have used so far (Linux): the
// scheduler's own nanosecond count per thread. The utime/stime of
// /proc/PID/stat count whole timer ticks (10 ms here), coarse for a run of
// a few seconds that is mostly short wake-ups; they are the fallback.
export function cpuSeconds(pid) {
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      } catch { /* a thread that has just ended */ }
    }
    return ns / 1e9;
  } catch {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ ticks
  }
}
