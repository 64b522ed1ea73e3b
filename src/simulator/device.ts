// One simulated Azure Stack Edge device: its local ARM resources, its GPU ledger, its Kubernetes role,
// and the invariant checks over them.
import type { AuditLog } from './audit.js';
import type { Clock } from './clock.js';
import type { DeviceConfig, ImageConfig, OsType, SimulatorConfig, TimingConfig } from './config.js';
import { releaseOf } from './config.js';
import type { ArmErrorBody } from './arm/errors.js';
import type { FaultInjector } from './faults.js';
import { GpuLedger } from './gpuLedger.js';
import type { OperationRegistry } from './arm/lro.js';
import type { RoleRecord } from './roles.js';
import { INITIAL_ROLE_NAME, newRole } from './roles.js';

export type { RoleRecord } from './roles.js';

export const LOCATION = 'dbelocal';
export const DEVICE_TENANT_ID = 'c0257de7-538f-415c-993a-1b87a031879d';
export const DEVICE_CLIENT_ID = '1950a258-227b-4e31-a9cf-717495945fc2';
export const ARM_USERNAME = 'EdgeArmUser';

export const GPU_SIZES: Record<string, { cores: number; memoryGiB: number }> = {
  standard_nc4as_t4_v3: { cores: 4, memoryGiB: 28 },
  standard_nc8as_t4_v3: { cores: 8, memoryGiB: 56 },
};
/** Non-GPU sizes the device accepts (a representative subset of the documented list). */
export const OTHER_SIZES = [
  'Standard_D1_v2', 'Standard_D2_v2', 'Standard_D3_v2', 'Standard_D4_v2', 'Standard_D5_v2',
  'Standard_DS1_v2', 'Standard_DS2_v2', 'Standard_DS3_v2', 'Standard_DS4_v2', 'Standard_DS5_v2',
  'Standard_F1', 'Standard_F2', 'Standard_F4', 'Standard_F8', 'Standard_F16',
  'Standard_F2s', 'Standard_F4s', 'Standard_F8s', 'Standard_F16s',
];

export const isGpuSize = (size: string): boolean => GPU_SIZES[size.toLowerCase()] !== undefined;
export const isKnownSize = (size: string): boolean =>
  isGpuSize(size) || OTHER_SIZES.some((s) => s.toLowerCase() === size.toLowerCase());

export interface SimContext {
  config: SimulatorConfig;
  clock: Clock;
  faults: FaultInjector;
  audit: AuditLog;
  operations: OperationRegistry;
  timings(): TimingConfig;
}

export interface ResourceGroupRecord {
  name: string;
  location: string;
  tags: Record<string, string>;
}

export interface ImageRecord {
  name: string;
  resourceGroup: string;
  osType: OsType;
  generation: 'V1' | 'V2';
  config: ImageConfig;
}

export interface VnetRecord {
  name: string;
  resourceGroup: string;
  addressPrefix: string;
  subnets: { name: string; addressPrefix: string }[];
}

export interface NicRecord {
  name: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  ipConfigName: string;
  allocation: 'Dynamic' | 'Static';
  privateIPAddress: string;
  subnetId: string;
  /** Id of the VM using it. */
  attachedVmId?: string;
  provisioningState: 'Updating' | 'Succeeded' | 'Failed' | 'Deleting';
}

export type PowerState = 'starting' | 'running' | 'stopping' | 'stopped' | 'deallocating' | 'deallocated';

export interface ExtensionRecord {
  name: string;
  publisher: string;
  type: string;
  typeHandlerVersion: string;
  autoUpgradeMinorVersion: boolean;
  settings: unknown;
  provisioningState: 'Creating' | 'Updating' | 'Succeeded' | 'Failed' | 'Deleting';
  error?: ArmErrorBody;
  tags: Record<string, string>;
}

export interface VmRecord {
  name: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  vmId: string;
  size: string;
  imageId: string;
  image: ImageRecord;
  computerName: string;
  adminUsername: string;
  linuxConfiguration?: unknown;
  windowsConfiguration?: unknown;
  nicIds: string[];
  provisioningState: 'Creating' | 'Updating' | 'Succeeded' | 'Failed' | 'Deleting';
  power: PowerState;
  error?: ArmErrorBody;
  extensions: Map<string, ExtensionRecord>;
  /** A power action or delete is in flight. */
  busy: boolean;
  createdAt: string;
  /** Name of the managed OS disk (in the VM's resource group), once provisioned. */
  osDiskName?: string;
  /** Name the PUT gave the OS disk (generated when absent). */
  requestedOsDiskName: string;
  /** Kubernetes took this stopped VM's GPU (release notes 2103–2205 known issue). */
  gpuTakenOver?: boolean;
  /** Identity of the pending stopped-GPU takeover timer (a newer stop or any start replaces/clears it). */
  takeoverTicket?: object;
}

export interface DiskRecord {
  name: string;
  resourceGroup: string;
  uniqueId: string;
  osType: OsType;
  hyperVGeneration: 'V1' | 'V2';
  imageId: string;
  diskSizeGB: number;
  timeCreated: string;
  /** Id of the VM the disk is attached to. */
  managedBy?: string;
}

export const key = (...parts: string[]): string => parts.join('/').toLowerCase();

export class DeviceState {
  readonly ledger: GpuLedger;
  readonly release: number;
  readonly resourceGroups = new Map<string, ResourceGroupRecord>();
  readonly images = new Map<string, ImageRecord>();
  readonly vnets = new Map<string, VnetRecord>();
  readonly nics = new Map<string, NicRecord>();
  readonly vms = new Map<string, VmRecord>();
  readonly disks = new Map<string, DiskRecord>();
  /** Compute roles by lower-case name (any kind; a hidden one under profile computeRole `none`). */
  readonly roles = new Map<string, RoleRecord>();
  private nextHost = 10;

  constructor(
    readonly config: DeviceConfig,
    readonly password: string,
    readonly ctx: SimContext,
  ) {
    this.ledger = new GpuLedger(config.gpus);
    this.release = releaseOf(config.softwareVersion);
    this.seed();
  }

  get name(): string {
    return this.config.name;
  }

  get subscriptionId(): string {
    return this.config.subscriptionId;
  }

  private seed(): void {
    for (const rg of ['ASERG', this.config.resourceGroup]) {
      this.resourceGroups.set(key(rg), { name: rg, location: LOCATION, tags: {} });
    }
    this.vnets.set(key('ASERG', 'ASEVNET'), {
      name: 'ASEVNET',
      resourceGroup: 'ASERG',
      addressPrefix: this.config.subnetPrefix,
      subnets: [{ name: 'ASEVNETsubNet', addressPrefix: this.config.subnetPrefix }],
    });
    for (const image of this.config.images) {
      const rg = image.resourceGroup ?? this.config.resourceGroup;
      if (!this.resourceGroups.has(key(rg))) this.resourceGroups.set(key(rg), { name: rg, location: LOCATION, tags: {} });
      this.images.set(key(rg, image.name), {
        name: image.name,
        resourceGroup: rg,
        osType: image.osType,
        generation: image.generation ?? 'V1',
        config: image,
      });
    }
    if (this.config.kubernetes) {
      // The profile decides how the configured compute shows on the Azure side.
      const shown = this.config.profile.computeRole;
      const kind = shown === 'IOT' ? 'IOT' : 'Kubernetes';
      const role = shown === 'none' ? { ...newRole(kind, 'device-local-compute', 'Created'), hidden: true } : newRole(kind, INITIAL_ROLE_NAME[kind], 'Created');
      this.roles.set(role.name.toLowerCase(), role);
      this.ledger.claimFreeForKubernetes(role.name);
    }
  }

  resourceGroupId(rg: string): string {
    return `/subscriptions/${this.subscriptionId}/resourceGroups/${rg}`;
  }

  providerId(rg: string, namespace: string, path: string): string {
    return `${this.resourceGroupId(rg)}/providers/${namespace}/${path}`;
  }

  vmId(vm: VmRecord): string {
    return this.providerId(vm.resourceGroup, 'Microsoft.Compute', `virtualMachines/${vm.name}`);
  }

  diskId(disk: { resourceGroup: string; name: string }): string {
    return this.providerId(disk.resourceGroup, 'Microsoft.Compute', `disks/${disk.name}`);
  }

  nicId(nic: NicRecord): string {
    return this.providerId(nic.resourceGroup, 'Microsoft.Network', `networkInterfaces/${nic.name}`);
  }

  /** Next free address of the subnet (hosts .10 upward of a /24-or-larger prefix). */
  allocateIp(subnetPrefix: string): string | undefined {
    const base = subnetPrefix.split('/')[0]?.split('.').map(Number) ?? [];
    const used = new Set([...this.nics.values()].map((n) => n.privateIPAddress));
    for (let i = 0; i < 240; i++) {
      const host = this.nextHost + i > 250 ? 10 + ((this.nextHost + i) % 240) : this.nextHost + i;
      const ip = `${base[0]}.${base[1]}.${base[2]}.${host}`;
      if (!used.has(ip)) {
        this.nextHost = host + 1;
        return ip;
      }
    }
    return undefined;
  }

  /** The first Created compute role (listed or hidden): it takes freed and stopped VMs' GPUs. */
  createdRole(): RoleRecord | undefined {
    return [...this.roles.values()].find((r) => r.provisioningState === 'Created');
  }

  /** Roles the Azure side lists (all but the hidden one of profile computeRole `none`). */
  listedRoles(): RoleRecord[] {
    return [...this.roles.values()].filter((r) => r.hidden !== true);
  }

  /** A GPU was freed: the compute role, when configured (and the rule is on), takes it. */
  gpuFreed(): void {
    const role = this.createdRole();
    if (role !== undefined && this.ctx.config.kubernetesClaimsFreedGpus) this.ledger.claimFreeForKubernetes(role.name);
  }

  /**
   * A GPU VM was stopped: with profile stoppedGpuTakeoverMs set, Kubernetes takes its GPU if it is still
   * stopped then and a compute role is Created (release notes 2103–2205, known issue "When the GPU VMs are
   * stopped, Kubernetes will take over the GPUs…"). A later stop or start invalidates the ticket.
   */
  scheduleStoppedTakeover(vm: VmRecord): void {
    const ms = this.config.profile.stoppedGpuTakeoverMs;
    if (ms === null) return;
    const ticket = {};
    vm.takeoverTicket = ticket;
    void this.ctx.clock.delay(ms).then(() => {
      if (vm.takeoverTicket !== ticket || vm.power !== 'stopped' || vm.busy || this.vms.get(key(vm.resourceGroup, vm.name)) !== vm) return;
      delete vm.takeoverTicket;
      const role = this.createdRole();
      if (role !== undefined && this.ledger.takeFromVm(this.vmId(vm), role.name)) vm.gpuTakenOver = true;
    });
  }

  /** Human explanation of who holds the GPUs, for AllocationFailed messages. */
  describeGpuHolders(): string {
    const vms = this.ledger
      .snapshot()
      .flatMap((h) => (h?.kind === 'vm' ? [h.name] : []));
    const k8s = this.ledger.kubernetesCount();
    const parts = [];
    if (vms.length > 0) parts.push(`GPU VMs ${vms.join(', ')}`);
    if (k8s > 0) parts.push(`the compute role ${this.ledger.kubernetesRoles().join(', ')} (${k8s})`);
    return `${this.config.gpus - this.ledger.free()} of ${this.config.gpus} GPU(s) held by ${parts.join(' and ') || 'nobody'}`;
  }

  /** Records a violation for every broken invariant. */
  checkInvariants(audit: AuditLog): void {
    const snapshot = this.ledger.snapshot();
    if (snapshot.length !== this.config.gpus || snapshot.filter((s) => s !== null).length > this.config.gpus) {
      audit.violation(this.name, 'gpu-holders', `more GPU holders than the ${this.config.gpus} GPU(s)`);
    }
    const vmIds = new Set<string>();
    const names = new Map<string, string>();
    for (const vm of this.vms.values()) {
      const id = this.vmId(vm).toLowerCase();
      vmIds.add(id);
      const other = names.get(vm.name.toLowerCase());
      if (other !== undefined) audit.violation(this.name, 'unique-vm-name', `two VMs named ${vm.name} (${other}, ${vm.resourceGroup})`);
      names.set(vm.name.toLowerCase(), vm.resourceGroup);
      const holds = this.ledger.holdsVm(id);
      if (holds && !isGpuSize(vm.size)) audit.violation(this.name, 'gpu-size', `non-GPU VM ${vm.name} holds a GPU`);
      if (holds && vm.power === 'deallocated') audit.violation(this.name, 'gpu-deallocated', `deallocated VM ${vm.name} holds a GPU`);
      // A stopped VM whose GPU Kubernetes took over is legal without one (known issue 2103–2205).
      if (!holds && isGpuSize(vm.size) && vm.provisioningState === 'Succeeded' && (vm.power === 'running' || (vm.power === 'stopped' && vm.gpuTakenOver !== true))) {
        audit.violation(this.name, 'gpu-allocated', `allocated GPU VM ${vm.name} holds no GPU`);
      }
    }
    for (const holder of this.ledger.vmHolders()) {
      if (!vmIds.has(holder.toLowerCase())) audit.violation(this.name, 'gpu-orphan', `a GPU is held by missing VM ${holder}`);
    }
    for (const role of this.ledger.kubernetesRoles()) {
      if (!this.roles.has(role)) audit.violation(this.name, 'gpu-kubernetes', `GPUs held by compute role ${role}, which does not exist`);
    }
    for (const disk of this.disks.values()) {
      if (disk.managedBy !== undefined && !vmIds.has(disk.managedBy.toLowerCase())) audit.violation(this.name, 'disk-orphan', `disk ${disk.name} is attached to missing VM ${disk.managedBy}`);
    }
  }
}
