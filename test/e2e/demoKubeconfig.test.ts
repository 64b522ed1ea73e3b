// `gpuvm-controller demo --kubeconfig` against the run's control plane, standing in for a user's cluster: it
// converges in its own namespace and leaves nothing behind; on a cluster with other CRD versions it refuses.
import { kubectl, testKubeconfigPath } from '../support/cluster.js';
import { runDemo, timeline } from '../support/demoRun.js';

interface Listed {
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number };
  involvedObject?: { kind?: string };
  regarding?: { kind?: string };
}

/**
 * Every object of every listable resource, as `kind namespace/name` (CRDs with their generation: "left as they
 * are" means unchanged). Kept: only what a demo could have created (namespaced objects of `default`,
 * gpuvm-system and gpuvm-demo-* namespaces, and cluster-scoped objects), less what churns on its own (Leases of
 * the control plane). Jest runs the e2e files one at a time, but earlier files' objects may still be going away.
 */
async function everything(): Promise<Set<string>> {
  const resources = await kubectl(['api-resources', '--verbs=list', '-o', 'name']);
  if (resources.code !== 0) throw new Error(`kubectl api-resources failed: ${resources.stderr}`);
  const names = resources.stdout.split('\n').filter((n) => n !== '');
  const got = await kubectl(['get', names.join(','), '-A', '-o', 'json']);
  if (got.code !== 0) throw new Error(`kubectl get ${names.join(',')} failed: ${got.stderr}`);
  const items = (JSON.parse(got.stdout) as { items: Listed[] }).items;
  const kept = items.filter(({ kind, metadata: { namespace } }) => {
    if (kind === 'Lease') return false;
    return namespace === undefined || namespace === 'default' || namespace === 'gpuvm-system' || namespace.startsWith('gpuvm-demo-');
  });
  return new Set(kept.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}${o.kind === 'CustomResourceDefinition' ? ` generation ${String(o.metadata.generation)}` : ''}`));
}

const added = (before: Set<string>, after: Set<string>): string[] => [...after].filter((k) => !before.has(k)).sort();

test('demo --kubeconfig --exit-when-settled: converges in its own namespace, uses the CRDs as they are, leaves nothing behind', async () => {
  const before = await everything();
  // The CRDs are the ones the run installed from crds/ (by globalSetup), so the demo must use them, not reinstall.
  expect([...before].filter((k) => k.startsWith('CustomResourceDefinition ')).length).toBeGreaterThanOrEqual(2);

  const run = await runDemo(['--kubeconfig', testKubeconfigPath(), '--exit-when-settled', '--timeout', '3m'], 300_000);
  const explain = `exit ${String(run.code)} ${String(run.signal)}\n${run.output}`;
  expect({ code: run.code, explain }).toEqual({ code: 0, explain });

  const id = /creating namespace gpuvm-demo-([0-9a-f]{6}) /.exec(run.output)?.[1];
  if (id === undefined) throw new Error(`the demo did not name its namespace:\n${run.output}`);
  expect(run.output).toContain("present and the same as this build's: used as they are");
  expect(run.output).not.toContain('installing the CRDs');

  const entries = timeline(run.output);
  const ready = entries.filter((e) => e.subject.startsWith('gpuvm ') && e.change.startsWith('phase Ready ip '));
  expect([...new Set(ready.map((e) => e.subject))].sort()).toEqual(['gpuvm cad-windows', 'gpuvm train-1', 'gpuvm vision-linux']);
  expect(entries).toContainEqual(expect.objectContaining({ subject: 'gpuvm train-2', change: 'phase WaitingForGpu (InsufficientGpus)' }));
  // The view follows the unique device names: the ordering gate, ARM deployments and the role are matched to them.
  expect(entries).toContainEqual(expect.objectContaining({ subject: `edgedevice edge-2gpu-${id}`, change: 'kubernetes NotConfigured (WaitingForGpuVms)' }));
  expect(entries).toContainEqual(expect.objectContaining({ subject: `edgedevice edge-2gpu-${id}`, change: 'kubernetes Configured holding 0 GPU(s)' }));
  expect(entries.filter((e) => e.subject === `arm edge-2gpu-${id}` && e.change.startsWith('CreateVM deployment for ')).length).toBe(2);
  expect(run.output).toMatch(new RegExp(`^gpuvm gpuvm-demo-${id}/train-2 on edgedevice edge-1gpu-${id}: WaitingForGpu; `, 'm'));
  expect(run.output).toMatch(/Settled in \d+\.\ds after the controller started/);
  expect(run.output).toContain('Simulator invariant checks: no violation');

  expect(run.output).toContain('stopped: controller, simulator\n');
  expect(run.output).toMatch(new RegExp(`^removed: 4 GpuVms, EdgeDevices edge-1gpu-${id}, edge-2gpu-${id}(, \\d+ Events in default)?, namespace gpuvm-demo-${id}$`, 'm'));
  const after = await everything();
  expect(added(before, after)).toEqual([]);
  expect([...after].filter((k) => k.includes(id))).toEqual([]);
}, 320_000);

// A GpuVm deleted while its CreateVM deployment runs may keep its finalizer (the VM appears after the controller
// deleted it); the demo then removes the finalizers after a minute, as its devices are its own simulator.
test('demo --kubeconfig stopped with SIGINT while VMs are being created: exit 130, and still nothing left behind', async () => {
  const before = await everything();
  let signalled = false;
  const run = await runDemo(['--kubeconfig', testKubeconfigPath()], 200_000, (output, pid) => {
    if (!signalled && /arm edge-\dgpu-[0-9a-f]{6}\s+CreateVM deployment/.test(output)) {
      signalled = true;
      process.kill(pid, 'SIGINT');
    }
  });
  expect(signalled).toBe(true);
  const explain = `exit ${String(run.code)} ${String(run.signal)}\n${run.output}`;
  expect({ code: run.code, explain }).toEqual({ code: 130, explain });
  expect(run.output).toMatch(/^removed: 4 GpuVms, EdgeDevices .*, namespace gpuvm-demo-[0-9a-f]{6}$/m);
  expect(added(before, await everything())).toEqual([]);
}, 210_000);

test('demo --kubeconfig refuses a cluster whose gpuvm.io CRDs serve other versions: exit 2, nothing created or changed', async () => {
  // Files run one at a time, so changing the shared CRD here cannot disturb another test; an extra served version
  // with the same schema keeps v1alpha1 working and is removed again in finally. It is v0alpha1, which sorts below
  // v1alpha1: the preferred version never changes, so no client's cached discovery (kubectl keeps one) goes stale.
  const extra = await kubectl(['get', 'crd', 'edgedevices.gpuvm.io', '-o', 'json']);
  const crd = JSON.parse(extra.stdout) as { spec: { versions: { name: string; storage: boolean }[] } };
  const v1alpha1 = crd.spec.versions.find((v) => v.name === 'v1alpha1');
  if (v1alpha1 === undefined || crd.spec.versions.length !== 1) throw new Error(`unexpected edgedevices.gpuvm.io versions: ${extra.stdout}`);
  const patch = JSON.stringify([{ op: 'add', path: '/spec/versions/-', value: { ...v1alpha1, name: 'v0alpha1', storage: false } }]);
  const added2 = await kubectl(['patch', 'crd', 'edgedevices.gpuvm.io', '--type=json', '-p', patch]);
  if (added2.code !== 0) throw new Error(`adding a served version failed: ${added2.stderr}`);
  let restored: string;
  try {
    const before = await everything();
    const run = await runDemo(['--kubeconfig', testKubeconfigPath(), '--exit-when-settled', '--timeout', '1m'], 60_000);
    const explain = `exit ${String(run.code)} ${String(run.signal)}\n${run.output}`;
    expect({ code: run.code, explain }).toEqual({ code: 2, explain });
    expect(run.output).toContain('refused: this cluster has other versions of the gpuvm.io CRDs than this build of the demo');
    expect(run.output).toMatch(/edgedevices\.gpuvm\.io: the cluster serves (v1alpha1, v0alpha1|v0alpha1, v1alpha1), this build v1alpha1/);
    expect(run.output).not.toContain('creating namespace');
    expect(run.output).not.toContain('removing what the demo created');
    expect(added(before, await everything())).toEqual([]);
  } finally {
    const removed = await kubectl(['patch', 'crd', 'edgedevices.gpuvm.io', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/versions/1' }])]);
    restored = removed.code === 0 ? 'restored' : removed.stderr;
  }
  expect(restored).toBe('restored');
}, 90_000);
