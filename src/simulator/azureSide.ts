// The Azure (cloud) side: Microsoft.DataBoxEdge devices, their compute roles (Kubernetes or IoT; LROs that
// claim and release GPUs) and deviceCapacityInfo.
import type { DeviceState } from './device.js';
import type { LroTarget, SimRequest, SimResponse } from './http.js';
import { asyncAccepted, jsonObject, locationAccepted, ok, operationAnswer } from './http.js';
import type { RoleKind, RoleRecord } from './roles.js';
import { newRole, roleBody, settableRoleProperties } from './roles.js';
import { ArmError, badRequest, conflict } from './arm/errors.js';
import type { Route } from './router.js';
import type { AzureSideConfig } from './config.js';
import type { OperationRegistry } from './arm/lro.js';
import { injectedProvisioningFailure } from './faults.js';

export const DATABOXEDGE_API_VERSIONS = ['2021-02-01', '2021-06-01', '2022-03-01', '2023-01-01-preview', '2023-07-01', '2023-12-01'];
export const CAPACITY_API_VERSIONS = ['2023-12-01'];

export interface AzureSide {
  config: AzureSideConfig;
  devices: DeviceState[];
  operations: OperationRegistry;
  retryAfterSeconds(): number;
}

export function deviceResourceId(azure: AzureSideConfig, name: string): string {
  return `/subscriptions/${azure.subscriptionId}/resourceGroups/${azure.resourceGroup}/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/${name}`;
}

function serializeDevice(side: AzureSide, device: DeviceState): Record<string, unknown> {
  const high = device.config.gpus === 2;
  return {
    id: deviceResourceId(side.config, device.name),
    name: device.name,
    type: 'Microsoft.DataBoxEdge/dataBoxEdgeDevices',
    location: 'eastus',
    tags: {},
    kind: 'AzureStackEdge',
    sku: { name: high ? 'EdgeP_High' : 'EdgeP_Base', tier: 'Standard' },
    etag: `"${device.subscriptionId.slice(0, 8)}"`,
    properties: {
      dataBoxEdgeDeviceStatus: 'Online',
      serialNumber: `SIM${device.subscriptionId.slice(0, 8).toUpperCase()}`,
      description: 'Simulated Azure Stack Edge Pro GPU device',
      modelDescription: high ? 'Azure Stack Edge Pro - 2 GPU' : 'Azure Stack Edge Pro - 1 GPU',
      deviceType: 'DataBoxEdgeDevice',
      friendlyName: device.name,
      culture: 'en-US',
      deviceModel: high ? 'Azure Stack Edge Pro - 2 GPU' : 'Azure Stack Edge Pro - 1 GPU',
      deviceSoftwareVersion: device.config.softwareVersion,
      deviceLocalCapacity: 4_000_000,
      timeZone: 'UTC',
      deviceHcsVersion: device.config.softwareVersion,
      // Kinds of the listed roles that are configured (a hidden compute under profile computeRole `none` is not).
      configuredRoleTypes: [...new Set(device.listedRoles().filter((r) => r.provisioningState === 'Created').map((r) => r.kind))],
      nodeCount: 1,
    },
  };
}

function serializeRole(side: AzureSide, device: DeviceState, role: RoleRecord): Record<string, unknown> {
  return roleBody(`${deviceResourceId(side.config, device.name)}/roles/${role.name}`, role);
}

function serializeCapacity(side: AzureSide, device: DeviceState): Record<string, unknown> {
  const total = device.config.gpus;
  const free = device.ledger.free();
  return {
    id: `${deviceResourceId(side.config, device.name)}/deviceCapacityInfo/default`,
    name: 'default',
    type: 'Microsoft.DataBoxEdge/dataBoxEdgeDevices/deviceCapacityInfo',
    properties: {
      timeStamp: new Date().toISOString(),
      clusterStorageCapacityInfo: { seriesTotalSizeMb: 4_000_000, seriesFreeSizeMb: 3_000_000 },
      clusterComputeCapacityInfo: {
        gpuCapacity: { gpuType: 'Tesla T4', gpuUsedUnitsCount: total - free, gpuFreeUnitsCount: free, gpuReservedForFailoverUnitsCount: 0, gpuTotalUnitsCount: total },
        totalProvisionedNonHpnCores: 0,
      },
      nodeCapacityInfos: {},
    },
  };
}

function methodNotAllowed(req: SimRequest): never {
  throw new ArmError(405, 'MethodNotAllowed', `The requested method '${req.method}' is not allowed on '${req.path}'.`);
}

export function routeAzure(side: AzureSide, req: SimRequest, lro: LroTarget): Route {
  const s = req.segments;
  const l = s.map((x) => x.toLowerCase());
  const m = req.method;
  const base = { apiVersions: DATABOXEDGE_API_VERSIONS, auth: true, typeName: 'dataBoxEdgeDevices' } as const;
  const unknown: Route = {
    operation: 'unknown',
    apiVersions: null,
    auth: true,
    run: () => {
      throw new ArmError(404, 'InvalidRequestUri', `The request URI '${req.path}' is not a valid resource path.`);
    },
  };
  if (l[0] !== 'subscriptions' || l.length < 2) return unknown;
  const subscriptionOk = (): void => {
    if (l[1] !== side.config.subscriptionId.toLowerCase()) throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${s[1] ?? ''}' could not be found.`);
  };
  if (l[2] === 'providers' && l[4] === 'locations' && (l[6] === 'operations' || l[6] === 'operationresults') && l.length === 8) {
    return {
      operation: l[6] === 'operations' ? 'operation.status' : 'operation.result',
      apiVersions: null,
      auth: true,
      run: () => (subscriptionOk(), operationAnswer(side.operations, l[6] ?? '', s[7] ?? '', side.retryAfterSeconds())),
    };
  }
  if (l[2] !== 'resourcegroups' || l[4] !== 'providers' || l[5] !== 'microsoft.databoxedge' || l[6] !== 'databoxedgedevices') {
    if (l[2] === 'resourcegroups' && l[4] === 'providers' && l.length >= 7) {
      return { ...unknown, run: () => { throw new ArmError(400, 'NoRegisteredProviderFound', `No registered resource provider found for resource type '${s[5] ?? ''}/${s[6] ?? ''}'.`); } };
    }
    return unknown;
  }
  const scope = (): void => {
    subscriptionOk();
    if (l[3] !== side.config.resourceGroup.toLowerCase()) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${s[3] ?? ''}' could not be found.`);
  };
  const findDevice = (): DeviceState => {
    scope();
    const device = side.devices.find((d) => d.name.toLowerCase() === l[7]);
    if (device === undefined) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.DataBoxEdge/dataBoxEdgeDevices/${s[7] ?? ''}' under resource group '${s[3] ?? ''}' was not found.`);
    return device;
  };
  if (l.length === 7) return { ...base, operation: 'device.list', run: () => (scope(), m === 'GET' ? ok({ value: side.devices.map((d) => serializeDevice(side, d)) }) : methodNotAllowed(req)) };
  if (l.length === 8) return { ...base, operation: 'device.get', run: () => (m === 'GET' ? ok(serializeDevice(side, findDevice())) : methodNotAllowed(req)) };
  if (l[8] === 'devicecapacityinfo' && l.length === 10 && l[9] === 'default') {
    return { ...base, apiVersions: CAPACITY_API_VERSIONS, typeName: 'dataBoxEdgeDevices/deviceCapacityInfo', operation: 'capacity.get', run: () => (m === 'GET' ? ok(serializeCapacity(side, findDevice())) : methodNotAllowed(req)) };
  }
  if (l[8] === 'roles' && l.length === 9) {
    return {
      ...base,
      typeName: 'dataBoxEdgeDevices/roles',
      operation: 'role.list',
      run: () => {
        const device = findDevice();
        if (m !== 'GET') methodNotAllowed(req);
        return ok({ value: device.listedRoles().map((r) => serializeRole(side, device, r)) });
      },
    };
  }
  if (l[8] === 'roles' && l.length === 10) {
    const roleName = s[9] ?? '';
    const verb = m === 'PUT' ? 'put' : m === 'DELETE' ? 'delete' : m === 'GET' ? 'get' : m.toLowerCase();
    return {
      ...base,
      typeName: 'dataBoxEdgeDevices/roles',
      operation: `role.${verb}`,
      run: () => {
        const device = findDevice();
        const found = device.roles.get(roleName.toLowerCase());
        const role = found?.hidden === true ? undefined : found;
        const ms = device.ctx.timings().roleMs;
        if (m === 'GET') {
          if (role === undefined) throw new ArmError(404, 'NotFound', `The role '${roleName}' was not found on device '${device.name}'.`);
          return ok(serializeRole(side, device, role));
        }
        if (m === 'PUT') return putRole(side, device, roleName, role, jsonObject(req), ms, lro);
        if (m === 'DELETE') {
          if (role === undefined) return { status: 204 };
          if (role.provisioningState === 'Creating' || role.provisioningState === 'Deleting') {
            throw conflict('ConflictingOperation', `The role '${role.name}' is ${role.provisioningState.toLowerCase()}; retry when it finishes.`);
          }
          role.provisioningState = 'Deleting';
          const job = (async () => {
            await device.ctx.clock.delay(ms);
            device.roles.delete(role.name.toLowerCase());
            if (device.ledger.releaseKubernetes(role.name) > 0) device.gpuFreed();
          })();
          return locationAccepted(lro, 'DELETE', job);
        }
        return methodNotAllowed(req);
      },
    };
  }
  return { ...base, operation: 'unknown', run: () => { throw badRequest('InvalidResourceType', `The resource type '${s[8] ?? ''}' could not be found in the namespace 'Microsoft.DataBoxEdge'.`); } };
}

const ROLE_KINDS: readonly RoleKind[] = ['Kubernetes', 'IOT'];

/**
 * PUT roles/{name}. One role per kind (a second name of the same kind: RoleAlreadyExists, assumed); a
 * Kubernetes role next to an IoT role is its own role resource (the spec defines them as separate role
 * kinds; assumed) and, like any Created role, holds the GPUs it claimed.
 */
function putRole(side: AzureSide, device: DeviceState, name: string, role: RoleRecord | undefined, body: Record<string, unknown>, ms: number, lro: LroTarget): SimResponse {
  const kind = body['kind'];
  if (!ROLE_KINDS.includes(kind as RoleKind)) throw badRequest('InvalidInput', `Only roles of kind ${ROLE_KINDS.map((k) => `'${k}'`).join(' or ')} are supported by this device (got '${String(kind)}').`, 'kind');
  const rest = settableRoleProperties(body);
  const sameKind = device.listedRoles().find((r) => r.kind === kind && r.name.toLowerCase() !== name.toLowerCase() && r.provisioningState !== 'Failed');
  if (role === undefined && sameKind !== undefined) {
    throw conflict('RoleAlreadyExists', `Device '${device.name}' already has the ${String(kind)} role '${sameKind.name}'.`);
  }
  if (role !== undefined && role.provisioningState !== 'Failed') {
    if (role.provisioningState !== 'Created') throw conflict('ConflictingOperation', `The role '${role.name}' is ${role.provisioningState.toLowerCase()}; retry when it finishes.`);
    if (role.kind !== kind) throw badRequest('InvalidInput', `The role '${role.name}' is of kind '${role.kind}'; its kind cannot change.`, 'kind');
    role.properties = { ...role.properties, ...rest };
    return asyncAccepted(lro, 200, serializeRole(side, device, role), Promise.resolve());
  }
  const status = role === undefined ? 201 : 200;
  const created = newRole(kind as RoleKind, role?.name ?? name, 'Creating', rest);
  device.roles.set(name.toLowerCase(), created);
  const job = (async () => {
    await device.ctx.clock.delay(ms);
    if (device.roles.get(name.toLowerCase()) !== created) return;
    const failure = injectedProvisioningFailure(device.ctx.faults, 'role.create', ['azure', device.name]);
    if (failure !== undefined) {
      created.provisioningState = 'Failed';
      throw new ArmError(409, failure.code, failure.message);
    }
    created.provisioningState = 'Created';
    device.ledger.claimFreeForKubernetes(created.name);
  })();
  return asyncAccepted(lro, status, serializeRole(side, device, created), job);
}
