import { Registry } from 'prom-client';
import { registerShardMetrics } from './shardMetrics.js';
import { readinessOf, type ObservedManager } from './wiring.js';

test('gpuvm_shard_owned_devices counts the devices this replica owns when scraped, labelled with its identity', async () => {
  const registry = new Registry();
  let owned = ['a', 'b'];
  registerShardMetrics(registry, { identity: 'ctl-0-abc', ownedDevices: () => owned });
  expect(await registry.metrics()).toContain('gpuvm_shard_owned_devices{replica="ctl-0-abc"} 2');
  owned = [];
  expect(await registry.metrics()).toContain('gpuvm_shard_owned_devices{replica="ctl-0-abc"} 0');
});

test('/readyz in sharded mode waits for the shard membership after the caches', () => {
  let known = false;
  const manager: ObservedManager = {
    gpuVms: { list: () => [], addEventHandler: () => () => undefined },
    devices: { list: () => [], addEventHandler: () => () => undefined },
    hasSynced: () => true,
    informersHealthy: () => true,
    shardMembershipKnown: () => known,
  };
  expect(readinessOf(manager)).toEqual({ ok: false, detail: 'shard membership not known yet' });
  known = true;
  expect(readinessOf(manager)).toEqual({ ok: true, detail: 'caches synced' });
});
