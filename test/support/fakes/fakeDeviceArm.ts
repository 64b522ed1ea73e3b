// One device's ARM in memory, for reconciler tests: records every call, keeps deployments Running until the test
// finishes them (a finished CreateVM deployment makes its VM, a driver deployment its extension), and can fail calls.
import type { ArmDeployment, ArmError, ArmExtension, ArmNic, ArmVm, DeviceApiVersions } from '../../../src/arm/resources.js';
import type { DeviceArm, LroStarted, TemplateDeployment } from '../../../src/azure/deviceArm.js';
import { GPU_EXTENSION_NAME, OWNER_TAG, nicName } from '../../../src/naming/armNames.js';

export class FakeDeviceArm implements DeviceArm {
  readonly calls: string[] = [];
  readonly vms = new Map<string, ArmVm>();
  readonly deployments = new Map<string, ArmDeployment & { body: TemplateDeployment }>();
  readonly extensions = new Map<string, ArmExtension>();
  readonly nics = new Set<string>();
  readonly images = new Set<string>(['ubuntu']);
  /** Calls (e.g. "putDeployment") that throw this error once, then work. */
  readonly failOnce = new Map<string, Error>();

  private call(name: string, arg = ''): void {
    this.calls.push(arg === '' ? name : `${name} ${arg}`);
    const failure = this.failOnce.get(name);
    if (failure !== undefined) {
      this.failOnce.delete(name);
      throw failure;
    }
  }

  /** Calls made since the last take, and forgets them. */
  take(): string[] {
    return this.calls.splice(0);
  }

  /** Finishes a running deployment: a CreateVM one makes the VM it names (owned by `ownerUid`), a driver one the extension. */
  finish(name: string, ownerUid: string, state: 'Succeeded' | 'Failed' = 'Succeeded'): void {
    const deployment = this.deployments.get(name);
    if (deployment === undefined) throw new Error(`no deployment ${name}`);
    deployment.provisioningState = state;
    deployment.timestamp = new Date().toISOString();
    if (state !== 'Succeeded') return;
    const vmName = deployment.body.parameters['vmName']?.value;
    if (typeof vmName === 'string' && deployment.body.parameters['vmSize'] !== undefined) {
      this.nics.add(nicName(vmName));
      this.vms.set(vmName, {
        name: vmName,
        id: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${vmName}`,
        vmSize: String(deployment.body.parameters['vmSize']?.value),
        provisioningState: 'Succeeded',
        powerState: 'running',
        tags: { [OWNER_TAG]: ownerUid },
        nicIds: [`/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/${nicName(vmName)}`],
        osDiskName: `${vmName}_OsDisk_1_0`,
      });
    } else if (typeof vmName === 'string') {
      this.extensions.set(vmName, { name: GPU_EXTENSION_NAME, type: 'NvidiaGpuDriverLinux', typeHandlerVersion: '1.8', provisioningState: 'Succeeded' });
    }
  }

  apiVersions(): Promise<DeviceApiVersions> {
    return Promise.resolve({ compute: '2020-06-01', disks: '2019-07-01', network: '2018-11-01', resources: '2019-10-01' });
  }

  async getVm(name: string): Promise<ArmVm | undefined> {
    this.call('getVm', name);
    return this.vms.get(name);
  }

  async listVms(): Promise<ArmVm[]> {
    this.call('listVms');
    return [...this.vms.values()];
  }

  async imageExists(name: string): Promise<boolean> {
    this.call('imageExists', name);
    return this.images.has(name);
  }

  async listImages(): Promise<string[]> {
    this.call('listImages');
    return [...this.images];
  }

  async getDeployment(name: string): Promise<ArmDeployment | undefined> {
    this.call('getDeployment', name);
    const d = this.deployments.get(name);
    return d === undefined ? undefined : { name: d.name, provisioningState: d.provisioningState, ...(d.timestamp !== undefined ? { timestamp: d.timestamp } : {}) };
  }

  async getDeploymentFailures(name: string): Promise<ArmError[]> {
    this.call('getDeploymentFailures', name);
    return [];
  }

  async putDeployment(name: string, body: TemplateDeployment): Promise<LroStarted> {
    this.call('putDeployment', name);
    this.deployments.set(name, { name, provisioningState: 'Running', body });
    return {};
  }

  async deleteDeployment(name: string): Promise<LroStarted> {
    this.call('deleteDeployment', name);
    this.deployments.delete(name);
    return {};
  }

  async getExtension(vmName: string): Promise<ArmExtension | undefined> {
    this.call('getExtension', vmName);
    return this.extensions.get(vmName);
  }

  async getNicPrivateIp(nicId: string): Promise<string | undefined> {
    this.call('getNicPrivateIp', nicId.split('/').pop());
    return '10.0.0.4';
  }

  async listNics(): Promise<ArmNic[]> {
    this.call('listNics');
    return [...this.vms.values()].flatMap((vm) => vm.nicIds.map((id) => ({ id, privateIp: '10.0.0.4' })));
  }

  async nicExists(name: string): Promise<boolean> {
    this.call('nicExists', name);
    return this.nics.has(name);
  }

  private power(name: string, state: ArmVm['powerState']): void {
    const vm = this.vms.get(name);
    if (vm !== undefined) vm.powerState = state;
  }

  async startVm(name: string): Promise<LroStarted> {
    this.call('startVm', name);
    this.power(name, 'running');
    return {};
  }

  async powerOffVm(name: string): Promise<LroStarted> {
    this.call('powerOffVm', name);
    this.power(name, 'stopped');
    return {};
  }

  async deallocateVm(name: string): Promise<LroStarted> {
    this.call('deallocateVm', name);
    this.power(name, 'deallocated');
    return {};
  }

  async deleteVm(name: string): Promise<LroStarted> {
    this.call('deleteVm', name);
    this.vms.delete(name);
    this.extensions.delete(name);
    return {};
  }

  async deleteNic(name: string): Promise<LroStarted> {
    this.call('deleteNic', name);
    this.nics.delete(name);
    return {};
  }

  async diskExists(name: string): Promise<boolean> {
    this.call('diskExists', name);
    return false;
  }

  async deleteDisk(name: string): Promise<LroStarted> {
    this.call('deleteDisk', name);
    return {};
  }
}
