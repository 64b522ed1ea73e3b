// gpuvm-controller explain: reads GpuVms and EdgeDevices from any cluster's API server (nothing else) and says,
// in plain words, what each waits for and what to do. Also `kubectl gpuvm explain …` (src/kubectlPlugin.ts).
import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { parseArgs } from 'node:util';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION, type EdgeDevice, type GpuVm } from '../api/types.js';
import { explainEdgeDevice, explainGpuVm, type ExplainInput } from '../explain/explanation.js';
import { abortable } from '../runtime/kubeListerWatcher.js';
import { parseDuration } from './duration.js';

export const EXPLAIN_USAGE = `usage: gpuvm-controller explain (gvm/NAME | edev/NAME | --all) [flags]
       kubectl gpuvm explain (gvm/NAME | edev/NAME | --all) [flags]

Says what a GpuVm or EdgeDevice waits for (queue position and who holds the GPUs, the Kubernetes gate, the ARM
operation in flight and its age) and what to do, from what the API server holds. Reads only; needs get/list on
gpuvms and edgedevices. Exit code 0, 1 when an object was not found, 2 on bad arguments.

  gvm/NAME, gpuvm/NAME        one GpuVm (in --namespace)
  edev/NAME, edgedevice/NAME  one EdgeDevice, its GPUs, ledger, queue and Kubernetes role
  --all                       every EdgeDevice, then every GpuVm (of --namespace, or all with -A)
  -n, --namespace NS          namespace of GpuVms (default: the kubeconfig context's, else "default")
  -A, --all-namespaces        with --all: GpuVms of every namespace
  --kubeconfig PATH           kubeconfig (default: $KUBECONFIG, then in-cluster)
  --timeout DURATION          limit for each API request (default 30s)
`;

type Target = { kind: 'gpuvm' | 'edgedevice'; name: string } | { kind: 'all' };

function parseTarget(text: string | undefined, all: boolean): Target {
  if (all) {
    if (text !== undefined) throw new Error(`give either --all or one object, not both ("${text}")`);
    return { kind: 'all' };
  }
  const match = /^(gvm|gvms|gpuvm|gpuvms|edev|edevs|edgedevice|edgedevices)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(text ?? '');
  if (match === null) throw new Error(text === undefined ? 'name an object (gvm/NAME or edev/NAME) or give --all' : `"${text}" is not gvm/NAME or edev/NAME`);
  return { kind: (match[1] ?? '').startsWith('e') ? 'edgedevice' : 'gpuvm', name: match[2] ?? '' };
}

export interface ExplainReader {
  gpuVms(namespace: string | undefined): Promise<GpuVm[]>;
  devices(): Promise<EdgeDevice[]>;
}

/** Lists through the API server; a namespace-scoped user (no cluster-wide list) sees its namespace only. */
export function apiServerReader(kubeConfig: KubeConfig, timeoutMs: number): ExplainReader {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const options = () => abortable(AbortSignal.timeout(timeoutMs));
  return {
    async gpuVms(namespace) {
      const list =
        namespace === undefined
          ? await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL }, options())
          : await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace }, options());
      return (list as { items: GpuVm[] }).items;
    },
    async devices() {
      return ((await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL }, options())) as { items: EdgeDevice[] }).items;
    },
  };
}

/** The explanation of `target` as text, or an error line and exit code 1 when it does not exist. */
export async function explainTarget(reader: ExplainReader, target: Target, namespace: string, allNamespaces: boolean, now = new Date()): Promise<{ code: number; text: string }> {
  const devices = await reader.devices();
  // The queue of a device spans namespaces; where the reader may not list cluster-wide, its own namespace is
  // what it can see.
  const gpuVms = await reader.gpuVms(undefined).catch(async (err: unknown) => {
    if (err instanceof ApiException && err.code === 403) return reader.gpuVms(namespace);
    throw err;
  });
  const input: ExplainInput = { now, gpuVms, devices };
  if (target.kind === 'gpuvm') {
    const g = gpuVms.find((x) => x.metadata.name === target.name && x.metadata.namespace === namespace);
    if (g === undefined) return { code: 1, text: `gpuvm ${namespace}/${target.name} not found\n` };
    return { code: 0, text: `${explainGpuVm(g, input).join('\n')}\n` };
  }
  if (target.kind === 'edgedevice') {
    const d = devices.find((x) => x.metadata.name === target.name);
    if (d === undefined) return { code: 1, text: `edgedevice ${target.name} not found\n` };
    return { code: 0, text: `${explainEdgeDevice(d, input).join('\n')}\n` };
  }
  const byName = <T extends { metadata: { name?: string; namespace?: string } }>(a: T, b: T): number =>
    `${a.metadata.namespace ?? ''}/${a.metadata.name ?? ''}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name ?? ''}`);
  const shown = gpuVms.filter((g) => allNamespaces || g.metadata.namespace === namespace).sort(byName);
  const blocks = [...[...devices].sort(byName).map((d) => explainEdgeDevice(d, input)), ...shown.map((g) => explainGpuVm(g, input))];
  return { code: 0, text: blocks.length === 0 ? 'no EdgeDevices or GpuVms\n' : `${blocks.map((b) => b.join('\n')).join('\n\n')}\n` };
}

export async function main(args: string[], write: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        all: { type: 'boolean', default: false },
        namespace: { type: 'string', short: 'n' },
        'all-namespaces': { type: 'boolean', short: 'A', default: false },
        kubeconfig: { type: 'string' },
        timeout: { type: 'string', default: '30s' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
    if (values.help === true) {
      write(EXPLAIN_USAGE);
      return 0;
    }
    if (positionals.length > 1) throw new Error(`one object at a time (got ${positionals.join(' ')})`);
  } catch (err) {
    process.stderr.write(`gpuvm-controller explain: ${err instanceof Error ? err.message : String(err)}\n\n${EXPLAIN_USAGE}`);
    return 2;
  }
  let target: Target;
  let timeoutMs: number;
  try {
    target = parseTarget(positionals[0], values.all);
    timeoutMs = parseDuration(values.timeout, '--timeout');
  } catch (err) {
    process.stderr.write(`gpuvm-controller explain: ${err instanceof Error ? err.message : String(err)}\n\n${EXPLAIN_USAGE}`);
    return 2;
  }
  const kubeConfig = new KubeConfig();
  if (values.kubeconfig !== undefined) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromDefault();
  const contextNamespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  const namespace = values.namespace ?? contextNamespace ?? 'default';
  const result = await explainTarget(apiServerReader(kubeConfig, timeoutMs), target, namespace, values['all-namespaces']);
  if (result.code === 0) write(result.text);
  else process.stderr.write(result.text);
  return result.code;
}
