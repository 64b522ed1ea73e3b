// Sharded mode's metric: how many devices this replica acts on, labelled with its identity (the value of
// EdgeDevice.status.shard.replica), computed when scraped.
import { Gauge, type Registry } from 'prom-client';

export function registerShardMetrics(registry: Registry, shards: { readonly identity: string; ownedDevices(): readonly string[] }): void {
  new Gauge({
    name: 'gpuvm_shard_owned_devices',
    help: 'EdgeDevices this replica owns and acts on in sharded mode (--sharding)',
    labelNames: ['replica'],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ replica: shards.identity }, shards.ownedDevices().length);
    },
  });
}
