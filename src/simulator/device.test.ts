import { AuditLog } from './audit.js';
import { Clock } from './clock.js';
import { normalizeConfig } from './config.js';
import type { SimContext } from './device.js';
import { DeviceState } from './device.js';
import { OperationRegistry } from './arm/lro.js';
import { FaultInjector } from './faults.js';

function device(gpus: number, kubernetes = false): { state: DeviceState; audit: AuditLog } {
  const config = normalizeConfig({ devices: [{ name: 'd', gpus, kubernetes }] });
  const audit = new AuditLog(100);
  const ctx: SimContext = { config, clock: new Clock(), faults: new FaultInjector([], 1), audit, operations: new OperationRegistry(), timings: () => config.timings };
  const deviceConfig = config.devices[0];
  if (deviceConfig === undefined) throw new Error('no device');
  return { state: new DeviceState(deviceConfig, 'pw', ctx), audit };
}

describe('DeviceState invariants', () => {
  it('are clean for a fresh device and a preconfigured Kubernetes role holds every GPU', () => {
    const { state, audit } = device(2, true);
    expect(state.ledger.kubernetesCount()).toBe(2);
    state.checkInvariants(audit);
    expect(audit.violations()).toEqual([]);
  });

  it('records a GPU held by a VM that does not exist and Kubernetes GPUs without a role', () => {
    const { state, audit } = device(2);
    state.ledger.claimForVm('/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/ghost', 'ghost');
    state.ledger.claimFreeForKubernetes();
    state.checkInvariants(audit);
    expect(audit.violations().map((v) => v.invariant).sort()).toEqual(['gpu-kubernetes', 'gpu-orphan']);
  });

  it('seeds ASERG/ASEVNET/ASEVNETsubNet, the VM resource group and the images', () => {
    const { state } = device(1);
    expect([...state.vnets.values()].map((v) => `${v.resourceGroup}/${v.name}/${v.subnets[0]?.name}`)).toEqual(['ASERG/ASEVNET/ASEVNETsubNet']);
    expect([...state.resourceGroups.values()].map((r) => r.name)).toEqual(['ASERG', 'ASERG-vms']);
    expect([...state.images.values()].map((i) => i.name)).toEqual(['ubuntu1804-gen1', 'windows2019-gen1']);
  });
});
