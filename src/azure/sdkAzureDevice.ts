import type { KubernetesRole } from '@azure/arm-databoxedge';
import { isRestError } from '@azure/core-rest-pipeline';
import type { AzureClients } from './azureClients.js';
import type { AzureComputeRole, AzureDevice, AzureDeviceFacts, AzureGpuCapacity } from './azureDevice.js';
import type { LroStarted } from './deviceArm.js';
import { readBoundedList, requireListShape } from './boundedList.js';
import { retryAfterCapture } from './retryAfter.js';
import { deviceString, objectOr } from './sdkDeviceArm.js';

/** Name given to the Kubernetes role the controller creates. */
export const KUBERNETES_ROLE_NAME = 'kubernetes';

export interface DeviceResource {
  resourceGroup: string;
  deviceName: string;
}

/** Splits /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/<name>. */
export function parseDeviceResourceId(resourceId: string): DeviceResource {
  const match = /\/resourceGroups\/([^/]+)\/providers\/Microsoft\.DataBoxEdge\/dataBoxEdgeDevices\/([^/]+)$/i.exec(resourceId);
  if (match?.[1] === undefined || match[2] === undefined) throw new Error(`not a DataBoxEdge device resource id: ${resourceId}`);
  return { resourceGroup: match[1], deviceName: match[2] };
}

/** AzureDevice over @azure/arm-databoxedge and the deviceCapacityInfo request. */
export class SdkAzureDevice implements AzureDevice {
  private readonly device: DeviceResource;

  constructor(
    private readonly clients: AzureClients,
    private readonly resourceId: string,
  ) {
    this.device = parseDeviceResourceId(resourceId);
  }

  async getDevice(): Promise<AzureDeviceFacts> {
    const d = objectOr(await this.clients.dataBoxEdge.devices.get(this.device.deviceName, this.device.resourceGroup));
    const roleTypes = Array.isArray(d['configuredRoleTypes']) ? d['configuredRoleTypes'].slice(0, 20).map(deviceString).filter((t) => t !== '') : [];
    const facts: AzureDeviceFacts = { configuredRoleTypes: roleTypes };
    const skuName = objectOr(d['sku'])['name'];
    if (typeof skuName === 'string') facts.sku = deviceString(skuName);
    if (typeof d['deviceSoftwareVersion'] === 'string') facts.softwareVersion = deviceString(d['deviceSoftwareVersion']);
    return facts;
  }

  async getGpuCapacity(): Promise<AzureGpuCapacity | undefined> {
    try {
      const c = await this.clients.getGpuCapacity(this.resourceId);
      if (c.gpuTotalUnitsCount === 0) return undefined;
      return { total: c.gpuTotalUnitsCount, used: c.gpuUsedUnitsCount, free: c.gpuFreeUnitsCount };
    } catch (err) {
      // Older device releases do not serve deviceCapacityInfo: fall back to the SKU.
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async getComputeRoles(): Promise<AzureComputeRole[]> {
    const what = 'list of compute roles';
    const listed = await readBoundedList(
      what,
      this.clients.dataBoxEdge.roles.listByDataBoxEdgeDevice(this.device.deviceName, this.device.resourceGroup, { onResponse: requireListShape(what) }).byPage(),
    );
    return listed.map((role) => {
      // Only KubernetesRoleProperties has provisioningState (DataBoxEdge 2021-06-01); every kind has roleStatus.
      const r = objectOr(role);
      const result: AzureComputeRole = { name: deviceString(r['name']), kind: deviceString(r['kind']), provisioningState: deviceString(r['provisioningState']) || 'Unknown' };
      if (typeof r['roleStatus'] === 'string') result.roleStatus = deviceString(r['roleStatus']);
      return result;
    });
  }

  async createKubernetesRole(): Promise<LroStarted> {
    const capture = retryAfterCapture();
    // KubernetesRoleProperties (Azure/azure-rest-api-specs Microsoft.DataBoxEdge stable/2021-06-01/databoxedge.json
    // at 81682532 and stable/2023-12-01/openapi.json at 1fdccffc): hostPlatform (PlatformType
    // Windows|Linux), kubernetesClusterInfo.version, kubernetesRoleResources.compute.vmProfile and roleStatus
    // are required; hostPlatformType is read-only and never sent.
    const role: KubernetesRole = {
      kind: 'Kubernetes',
      hostPlatform: 'Linux',
      kubernetesClusterInfo: { version: '' },
      kubernetesRoleResources: { compute: { vmProfile: 'DBE_AKS_Small' } },
      roleStatus: 'Enabled',
    };
    await this.clients.dataBoxEdge.roles.beginCreateOrUpdate(this.device.deviceName, KUBERNETES_ROLE_NAME, this.device.resourceGroup, role, {
      onResponse: capture.onResponse,
    });
    return capture.started();
  }

  async deleteKubernetesRole(name: string): Promise<LroStarted> {
    const capture = retryAfterCapture();
    try {
      await this.clients.dataBoxEdge.roles.beginDelete(this.device.deviceName, name, this.device.resourceGroup, { onResponse: capture.onResponse });
    } catch (err) {
      // Gone already, or a removal already under way: roles other than Kubernetes report no provisioningState
      // (DataBoxEdge 2021-06-01 IoTRoleProperties), so a delete in flight is seen only as this 409.
      const inFlight = isRestError(err) && err.statusCode === 409 && (err.code === 'ConflictingOperation' || err.code === 'Conflict');
      if (!(isRestError(err) && err.statusCode === 404) && !inFlight) throw err;
    }
    return capture.started();
  }
}
