// `gpuvm-controller demo` as a user runs it: its own control plane, simulator and controller in a child
// process; the output must tell the story and nothing may outlive it.
import { readFileSync } from 'node:fs';
import { runDemo, timeline } from '../support/demoRun.js';

/** The etcd and kube-apiserver pids the demo reported. */
function controlPlanePids(output: string): number[] {
  const match = /etcd pid (\d+), kube-apiserver pid (\d+)/.exec(output);
  if (match === null) throw new Error(`the demo did not report its control plane:\n${output}`);
  return [Number(match[1]), Number(match[2])];
}

/** Still running as etcd or kube-apiserver (a pid reused by something else does not count). */
function stillRunning(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /etcd|kube-apiserver/.test(cmdline);
  } catch {
    return false;
  }
}

test('demo --exit-when-settled: GpuVms converge, one waits for a GPU, Kubernetes comes after the VMs; exit 0 and no process left', async () => {
  const run = await runDemo(['--exit-when-settled', '--timeout', '3m'], 240_000);
  const explain = `exit ${String(run.code)} ${String(run.signal)}\n${run.output}`;
  expect({ code: run.code, explain }).toEqual({ code: 0, explain });

  const entries = timeline(run.output);
  const ready = entries.filter((e) => e.subject.startsWith('gpuvm ') && e.change.startsWith('phase Ready ip '));
  expect([...new Set(ready.map((e) => e.subject))].sort()).toEqual(['gpuvm cad-windows', 'gpuvm train-1', 'gpuvm vision-linux']);
  expect(entries).toContainEqual(expect.objectContaining({ subject: 'gpuvm train-2', change: 'phase WaitingForGpu (InsufficientGpus)' }));
  expect(entries.filter((e) => e.change.endsWith(' for train-2'))).toEqual([]); // no ARM deployment while it waits
  expect(run.output).toMatch(/train-2 \(Linux\) waits: GpuReserved=False, reason InsufficientGpus: position 1 in the queue/);
  // The closing view is `gpuvm-controller explain`'s: the waiting GpuVm's queue place and the device's GPUs.
  expect(run.output).toContain('What `gpuvm-controller explain --all` says');
  expect(run.output).toMatch(/^gpuvm \S+\/train-2 on edgedevice \S+: WaitingForGpu; /m);
  expect(run.output).toMatch(/^ {2}Queue: position 1 of 1 on \S+; its GPUs: 1 total, 1 held by VMs, 0 by Kubernetes, 0 free; 1 GpuVm\(s\) in its ledger$/m);

  // edge-2gpu: the ordering gate held the role back, both CreateVM deployments came before the role, and
  // the role ended up with no GPU (had it come first, it would have claimed both).
  expect(entries).toContainEqual(expect.objectContaining({ subject: 'edgedevice edge-2gpu', change: 'kubernetes NotConfigured (WaitingForGpuVms)' }));
  const createVm = entries.filter((e) => e.subject === 'arm edge-2gpu' && e.change.startsWith('CreateVM deployment for '));
  expect(createVm.map((e) => e.change).sort()).toEqual(['CreateVM deployment for cad-windows', 'CreateVM deployment for vision-linux']);
  const roleCreate = entries.filter((e) => e.subject === 'azure edge-2gpu' && e.change.startsWith('Kubernetes role create'));
  expect(roleCreate.length).toBeGreaterThanOrEqual(1);
  expect(roleCreate[0]?.t).toBeGreaterThanOrEqual(Math.max(...createVm.map((e) => e.t)));
  const configured = entries.find((e) => e.subject === 'edgedevice edge-2gpu' && e.change.startsWith('kubernetes Configured'));
  expect(configured?.change).toBe('kubernetes Configured holding 0 GPU(s)');
  expect(entries.some((e) => e.subject === 'azure edge-1gpu')).toBe(false);

  expect(run.output).toMatch(/Settled in \d+\.\ds after the controller started/);
  expect(run.output).toContain('Simulator invariant checks: no violation');
  expect(run.output).toContain('stopped: controller, simulator, control plane');
  for (const pid of controlPlanePids(run.output)) expect({ pid, running: stillRunning(pid) }).toEqual({ pid, running: false });
}, 250_000);

test('demo stopped with SIGINT while converging: everything is stopped and nothing is left running', async () => {
  let signalled = false;
  const run = await runDemo([], 120_000, (output, pid) => {
    if (!signalled && /arm edge-\dgpu\s+CreateVM deployment/.test(output)) {
      signalled = true;
      process.kill(pid, 'SIGINT');
    }
  });
  expect(signalled).toBe(true);
  const explain = `exit ${String(run.code)} ${String(run.signal)}\n${run.output}`;
  expect({ code: run.code, explain }).toEqual({ code: 130, explain });
  expect(run.output).toContain('SIGINT: stopping');
  expect(run.output).toContain('stopped: controller, simulator, control plane');
  for (const pid of controlPlanePids(run.output)) expect({ pid, running: stillRunning(pid) }).toEqual({ pid, running: false });
}, 130_000);
