// Writes EdgeDevice.status.shard (sharded mode's ownership record, see runtime/shardOwnership.ts) with a JSON merge
// patch of the status subresource that carries the device's resourceVersion: the apiserver applies it only if the
// device is unchanged since it was read (409 otherwise), which is what makes a claim a fence.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { EDGEDEVICE_PLURAL, GROUP, VERSION, type EdgeDevice } from '../api/types.js';
import { abortable } from '../runtime/kubeListerWatcher.js';
import type { ShardStatusWriter } from '../runtime/shardOwnership.js';

const REQUEST_TIMEOUT_MS = 10_000;

export class ApiServerShardStatusWriter implements ShardStatusWriter {
  private readonly api: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  claim(device: EdgeDevice, replica: string, at: Date): Promise<EdgeDevice> {
    // null removes a previous owner's releasedAt (RFC 7386).
    return this.patch(device, { replica, since: at.toISOString(), releasedAt: null });
  }

  release(device: EdgeDevice, at: Date): Promise<EdgeDevice> {
    return this.patch(device, { releasedAt: at.toISOString() });
  }

  private async patch(device: EdgeDevice, shard: Record<string, string | null>): Promise<EdgeDevice> {
    const body = { metadata: { resourceVersion: device.metadata.resourceVersion }, status: { shard } };
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch, abortable(AbortSignal.timeout(REQUEST_TIMEOUT_MS)));
    return (await this.api.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name: device.metadata.name ?? '', body }, options)) as EdgeDevice;
  }
}
