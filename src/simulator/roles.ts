// Compute roles of a device on the Azure side (Microsoft.DataBoxEdge dataBoxEdgeDevices/roles): the records
// and their bodies. Shapes from the DataBoxEdge 2021-06-01 specification (Azure/azure-rest-api-specs,
// specification/databoxedge/resource-manager/Microsoft.DataBoxEdge/stable/2021-06-01/databoxedge.json,
// definitions KubernetesRoleProperties and IoTRoleProperties; examples RolePut.json / RoleGet.json).
import { isRecord } from './http.js';

export type RoleKind = 'Kubernetes' | 'IOT';

export interface RoleRecord {
  name: string;
  kind: RoleKind;
  provisioningState: 'Creating' | 'Created' | 'Deleting' | 'Failed';
  roleStatus: 'Enabled' | 'Disabled';
  /** Client-settable properties (read-only ones are added when serialized). */
  properties: Record<string, unknown>;
  /** Compute the Azure side does not list (profile computeRole `none`): it holds GPUs all the same. */
  hidden?: boolean;
}

/** Name of the role a device configured with `kubernetes: true` starts with, per kind. */
export const INITIAL_ROLE_NAME: Record<RoleKind, string> = { Kubernetes: 'k8s', IOT: 'IoTRole1' };

/** hostPlatform is Windows | Linux in the spec; anything else a client sends reads back as Linux (assumed). */
function hostPlatform(value: unknown): 'Windows' | 'Linux' {
  return value === 'Windows' ? 'Windows' : 'Linux';
}

export function kubernetesRole(name: string, state: RoleRecord['provisioningState'], properties: Record<string, unknown> = {}): RoleRecord {
  return {
    name,
    kind: 'Kubernetes',
    provisioningState: state,
    roleStatus: 'Enabled',
    properties: {
      kubernetesClusterInfo: { version: 'v1.27.1' },
      kubernetesRoleResources: { compute: { vmProfile: 'DS5' } },
      ...properties,
      hostPlatform: hostPlatform(properties['hostPlatform']),
    },
  };
}

/** IoT role per RoleGet.json: an IoT Hub device and an IoT Edge device; it runs on the device's Kubernetes. */
export function iotRole(name: string, state: RoleRecord['provisioningState'], properties: Record<string, unknown> = {}): RoleRecord {
  const device = (id: string): Record<string, unknown> => ({ deviceId: id, ioTHostHub: 'iothub.azure-devices.net', authentication: { symmetricKey: {} } });
  return {
    name,
    kind: 'IOT',
    provisioningState: state,
    roleStatus: 'Enabled',
    properties: {
      ioTDeviceDetails: device('iotdevice'),
      ioTEdgeDeviceDetails: device('iotEdge'),
      shareMappings: [],
      computeResource: { processorCount: 4, memoryInGB: 8 },
      ...properties,
      hostPlatform: hostPlatform(properties['hostPlatform']),
    },
  };
}

export function newRole(kind: RoleKind, name: string, state: RoleRecord['provisioningState'], properties: Record<string, unknown> = {}): RoleRecord {
  return kind === 'IOT' ? iotRole(name, state, properties) : kubernetesRole(name, state, properties);
}

/**
 * The role body. hostPlatformType is read-only (KubernetesCluster for both kinds here). KubernetesRoleProperties
 * has provisioningState; IoTRoleProperties has none in the spec, so an IoT role reports only roleStatus.
 */
export function roleBody(id: string, role: RoleRecord): Record<string, unknown> {
  const properties: Record<string, unknown> = { ...role.properties, hostPlatformType: 'KubernetesCluster', roleStatus: role.roleStatus };
  if (role.kind === 'Kubernetes') properties['provisioningState'] = role.provisioningState;
  return { id, name: role.name, type: 'Microsoft.DataBoxEdge/dataBoxEdgeDevices/roles', kind: role.kind, properties };
}

/** Client properties of a role PUT (read-only ones dropped). */
export function settableRoleProperties(body: Record<string, unknown>): Record<string, unknown> {
  const props = isRecord(body['properties']) ? body['properties'] : {};
  const { provisioningState: _p, roleStatus: _r, hostPlatformType: _t, ...rest } = props;
  return rest;
}
