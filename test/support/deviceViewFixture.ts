// A GpuVm planner's view of a connected 2-GPU device with one GPU free, for planner tests to override.
import type { DeviceView } from '../../src/plan/gpuVmPlan.js';

export function deviceViewFixture(overrides: Partial<DeviceView> = {}): DeviceView {
  return {
    name: 'dev-a',
    connected: true,
    connectionMessage: '',
    softwareVersion: '2.2.2309.1234',
    kubernetesConfigured: false,
    kubernetesGpus: 0,
    totalGpus: 2,
    freeGpus: 1,
    drain: false,
    reservation: 'Reserved',
    holders: [],
    otherNamespaceHolders: 0,
    namespaceAllowed: true,
    vmNameHeldElsewhere: false,
    ...overrides,
  };
}
