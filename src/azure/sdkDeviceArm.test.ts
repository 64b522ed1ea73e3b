import type { ComputeManagementClient, VirtualMachine, VirtualMachineInstanceView } from '@azure/arm-compute';
import type { NetworkManagementClient } from '@azure/arm-network-profile-2020-09-01-hybrid';
import type { ResourceManagementClient } from '@azure/arm-resources-profile-2020-09-01-hybrid';
import type { DeviceApiVersions } from './apiVersions.js';
import { MAX_LIST_PAGES } from './boundedList.js';
import { SdkDeviceArm, toArmVm } from './sdkDeviceArm.js';

const RG = 'vms';
const vmOf = (name: string, vmSize: string, rg = RG): VirtualMachine =>
  ({ name, id: `/subscriptions/s/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`, hardwareProfile: { vmSize }, provisioningState: 'Succeeded' }) as VirtualMachine;

/** A compute client that lists `vms` and answers instance views from `views`, recording what it was asked. */
function fakeCompute(vms: VirtualMachine[], views: Record<string, VirtualMachineInstanceView>, pages = 1) {
  const calls: string[] = [];
  const compute = {
    virtualMachines: {
      listAll: (options: { statusOnly?: string }) => {
        calls.push(`listAll statusOnly=${options.statusOnly ?? '-'}`);
        return {
          byPage: () =>
            (async function* () {
              for (let page = 0; page < pages; page++) yield page === 0 ? vms : [];
            })(),
        };
      },
      instanceView: async (rg: string, name: string) => {
        calls.push(`instanceView ${rg}/${name}`);
        return views[name] ?? {};
      },
    },
  };
  return { compute: compute as unknown as ComputeManagementClient, calls };
}

function arm(compute: ComputeManagementClient, versions: Partial<DeviceApiVersions>): SdkDeviceArm {
  const all: DeviceApiVersions = { compute: '2020-06-01', disks: '2019-07-01', network: '2018-11-01', resources: '2019-10-01', ...versions };
  return new SdkDeviceArm({ compute, resources: {} as ResourceManagementClient, network: {} as NetworkManagementClient, apiVersions: { get: async () => all } }, RG);
}

describe('SdkDeviceArm.listVms', () => {
  it('under Compute 2017-12-01 reads the instance view of each GPU-size VM; one without a PowerState is unknown', async () => {
    const { compute, calls } = fakeCompute([vmOf('gpu1', 'Standard_NC4as_T4_v3'), vmOf('gpu2', 'Standard_NC8as_T4_v3'), vmOf('small', 'Standard_D2_v2'), vmOf('elsewhere', 'Standard_NC4as_T4_v3', 'other')], {
      gpu1: { statuses: [{ code: 'ProvisioningState/succeeded' }, { code: 'PowerState/running' }] },
      gpu2: { statuses: [{ code: 'ProvisioningState/creating' }] },
    });
    const vms = await arm(compute, { compute: '2017-12-01' }).listVms();
    expect(vms.map((v) => [v.name, v.powerState])).toEqual([
      ['gpu1', 'running'],
      ['gpu2', 'unknown'],
      ['small', 'unknown'],
    ]);
    expect(calls.sort()).toEqual(['instanceView vms/gpu1', 'instanceView vms/gpu2', 'listAll statusOnly=-']);
  });

  it('under Compute 2020-06-01 lists once with statusOnly', async () => {
    const { compute, calls } = fakeCompute([{ ...vmOf('gpu1', 'Standard_NC4as_T4_v3'), instanceView: { statuses: [{ code: 'PowerState/stopped' }] } }], {});
    expect((await arm(compute, {}).listVms()).map((v) => v.powerState)).toEqual(['stopped']);
    expect(calls).toEqual(['listAll statusOnly=true']);
  });
});

describe('toArmVm osDiskName', () => {
  it('takes the managed disk id, else the OS disk name, else none', () => {
    const withId = { ...vmOf('a', 'x'), storageProfile: { osDisk: { name: 'named', managedDisk: { id: '/subscriptions/s/resourceGroups/vms/providers/Microsoft.Compute/disks/a_OsDisk_1_abc' } } } } as VirtualMachine;
    expect(toArmVm(withId).osDiskName).toBe('a_OsDisk_1_abc');
    expect(toArmVm({ ...vmOf('b', 'x'), storageProfile: { osDisk: { name: 'b-osdisk' } } } as VirtualMachine).osDiskName).toBe('b-osdisk');
    expect('osDiskName' in toArmVm(vmOf('c', 'x'))).toBe(false);
  });
});

describe('SdkDeviceArm reads a hostile device as an error, never as an empty or foreign answer', () => {
  it(`stops a listing after ${MAX_LIST_PAGES} pages with an error naming the limit`, async () => {
    const { compute } = fakeCompute([vmOf('gpu1', 'Standard_NC4as_T4_v3')], {}, MAX_LIST_PAGES + 1);
    await expect(arm(compute, {}).listVms()).rejects.toMatchObject({ name: 'DeviceResponseError', code: 'TooManyPages', message: expect.stringMatching(/more than 20 pages/) as unknown });
  });

  it('treats a VM body without an id (e.g. 200 {}) as unreadable, not as a VM that is not ours', () => {
    expect(() => toArmVm({} as VirtualMachine)).toThrow(/without an id/);
    expect(() => toArmVm({ tags: { other: 'x' } } as unknown as VirtualMachine)).toThrow(expect.objectContaining({ code: 'UnreadableResponse' }) as unknown as Error);
  });

  it('cuts device strings to bytes and ignores values of the wrong type', () => {
    const vm = toArmVm({ ...vmOf('a', 'x'), provisioningState: '€'.repeat(5000), tags: { 'gpuvm.io-uid': 7, ok: 'yes' }, instanceView: { statuses: 'running' } } as unknown as VirtualMachine);
    expect(Buffer.byteLength(vm.provisioningState)).toBeLessThanOrEqual(1024);
    expect(vm.tags).toEqual({ ok: 'yes' });
    expect(vm.powerState).toBe('unknown');
  });
});
