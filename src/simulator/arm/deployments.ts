// Microsoft.Resources/deployments: template deployments executed resource by resource in dependsOn
// order through the same code paths as direct PUTs, with per-resource operations.
import { createHash, randomUUID } from 'node:crypto';
import { API_VERSION_SETS } from '../apiVersions.js';
import type { DeviceState } from '../device.js';
import { key } from '../device.js';
import { isRecord } from '../http.js';
import type { EvaluatedResource, PreparedTemplate } from '../template/evaluator.js';
import { invalidTemplate, prepareTemplate } from '../template/evaluator.js';
import { BARE_FAILURE_CODE, putExtension, putImage, putVm, serializeExtension, serializeVm, requireResourceGroup } from './compute.js';
import type { ArmErrorBody } from './errors.js';
import { ArmError, badRequest, conflict, deploymentFailed, toArmError } from './errors.js';
import { putNic, serializeNic } from './network.js';

export type DeploymentState = 'Accepted' | 'Running' | 'Succeeded' | 'Failed' | 'Canceled';

export interface DeploymentOperation {
  operationId: string;
  provisioningState: 'Running' | 'Succeeded' | 'Failed';
  timestamp: string;
  statusCode?: string;
  error?: ArmErrorBody;
  target: { id: string; resourceType: string; resourceName: string };
}

export interface DeploymentRecord {
  name: string;
  resourceGroup: string;
  state: DeploymentState;
  mode: string;
  correlationId: string;
  timestamp: string;
  startedAt: number;
  durationMs?: number;
  templateHash: string;
  parameters: Record<string, { type: string; value?: unknown }>;
  outputs?: Record<string, { type: string; value: unknown }>;
  error?: ArmErrorBody;
  operations: DeploymentOperation[];
  outputResources: string[];
  /** POST .../cancel arrived: no further resource starts. */
  cancelRequested?: boolean;
  /** A resource failed bare (profile gpuExhaustion BareDeploymentFailed): no details, no statusMessage. */
  bare?: boolean;
}

const canceled = (): ArmError => new ArmError(409, 'DeploymentCanceled', 'The deployment was canceled.');

/**
 * api-versions a template may pin, per provider: the official templates' (Azure-Samples/azure-stack-edge-deploy-vms
 * pin Compute 2017-03-30, Network 2017-10-01) plus the ones the device's profile serves; and the api-profiles.
 */
function templateApiVersions(device: DeviceState): Record<string, string[]> {
  const served = API_VERSION_SETS[device.config.profile.apiVersions];
  return {
    'microsoft.compute': [...new Set(['2017-03-30', ...served.compute])],
    'microsoft.network': [...new Set(['2017-10-01', ...served.network])],
  };
}
const API_PROFILES = ['2018-03-01-hybrid', '2019-03-01-hybrid', '2020-09-01-hybrid'];
const SUPPORTED_TYPES = [
  'microsoft.network/networkinterfaces',
  'microsoft.compute/virtualmachines',
  'microsoft.compute/virtualmachines/extensions',
  'microsoft.compute/images',
];

export class DeploymentStore {
  readonly records = new Map<string, DeploymentRecord>();
}

const stores = new WeakMap<DeviceState, DeploymentStore>();
export function deploymentsOf(device: DeviceState): DeploymentStore {
  let store = stores.get(device);
  if (store === undefined) {
    store = new DeploymentStore();
    stores.set(device, store);
  }
  return store;
}

export function serializeDeployment(device: DeviceState, d: DeploymentRecord): Record<string, unknown> {
  return {
    id: `${device.resourceGroupId(d.resourceGroup)}/providers/Microsoft.Resources/deployments/${d.name}`,
    name: d.name,
    type: 'Microsoft.Resources/deployments',
    properties: {
      provisioningState: d.state,
      mode: d.mode,
      timestamp: d.timestamp,
      duration: `PT${(((d.durationMs ?? Date.now() - d.startedAt) as number) / 1000).toFixed(3)}S`,
      correlationId: d.correlationId,
      templateHash: d.templateHash,
      parameters: d.parameters,
      providers: [],
      dependencies: [],
      ...(d.outputs !== undefined ? { outputs: d.outputs } : {}),
      outputResources: d.outputResources.map((id) => ({ id })),
      ...(d.error !== undefined ? { error: d.error } : {}),
    },
  };
}

export function serializeOperation(device: DeviceState, d: DeploymentRecord, op: DeploymentOperation): Record<string, unknown> {
  return {
    id: `${device.resourceGroupId(d.resourceGroup)}/providers/Microsoft.Resources/deployments/${d.name}/operations/${op.operationId}`,
    operationId: op.operationId,
    properties: {
      provisioningOperation: 'Create',
      provisioningState: op.provisioningState,
      timestamp: op.timestamp,
      duration: 'PT0S',
      trackingId: op.operationId,
      ...(op.statusCode !== undefined ? { statusCode: op.statusCode } : {}),
      ...(op.error !== undefined ? { statusMessage: { status: 'Failed', error: op.error } } : {}),
      targetResource: op.target,
    },
  };
}

export function findDeployment(device: DeviceState, rg: string, name: string): DeploymentRecord {
  requireResourceGroup(device, rg);
  const d = deploymentsOf(device).records.get(key(rg, name));
  if (d === undefined) throw new ArmError(404, 'DeploymentNotFound', `Deployment '${name}' could not be found.`);
  return d;
}

function checkResourceTypes(device: DeviceState, prepared: PreparedTemplate): void {
  const allowed = templateApiVersions(device);
  if (prepared.apiProfile !== undefined && !API_PROFILES.includes(prepared.apiProfile.toLowerCase())) {
    throw invalidTemplate(`The api profile '${prepared.apiProfile}' is not supported; supported profiles are ${API_PROFILES.join(', ')}`);
  }
  for (const r of prepared.resources) {
    const type = r.type.toLowerCase();
    const namespace = type.split('/')[0] ?? '';
    if (!SUPPORTED_TYPES.includes(type)) {
      throw new ArmError(400, 'NoRegisteredProviderFound', `No registered resource provider found for location 'dbelocal' and resource type '${r.type}'.`);
    }
    if (r.apiVersion !== undefined && !(allowed[namespace] ?? []).includes(r.apiVersion)) {
      throw new ArmError(
        400,
        'NoRegisteredProviderFound',
        `No registered resource provider found for location 'dbelocal' and API version '${r.apiVersion}' for type '${r.type}'. The supported api-versions are '${(allowed[namespace] ?? []).join(', ')}'.`,
      );
    }
  }
}

function bodyOf(r: EvaluatedResource): Record<string, unknown> {
  const body: Record<string, unknown> = { properties: r.properties };
  if (r.location !== undefined) body['location'] = r.location;
  if (r.tags !== undefined) body['tags'] = r.tags;
  return body;
}

/** Starts one resource of a deployment through the direct-PUT code path. */
function startResource(device: DeviceState, rg: string, r: EvaluatedResource): Promise<void> {
  const names = r.name.split('/');
  switch (r.type.toLowerCase()) {
    case 'microsoft.network/networkinterfaces':
      return putNic(device, rg, r.name, bodyOf(r)).job;
    case 'microsoft.compute/virtualmachines':
      return putVm(device, rg, r.name, bodyOf(r)).job;
    case 'microsoft.compute/virtualmachines/extensions':
      return putExtension(device, rg, names[0] ?? '', names[1] ?? '', bodyOf(r)).job;
    case 'microsoft.compute/images':
      putImage(device, rg, r.name, bodyOf(r));
      return Promise.resolve();
    default:
      return Promise.reject(new ArmError(400, 'NoRegisteredProviderFound', `Resource type '${r.type}' is not supported.`));
  }
}

async function execute(device: DeviceState, d: DeploymentRecord, rg: string, prepared: PreparedTemplate): Promise<void> {
  await device.ctx.clock.delay(0);
  d.state = 'Running';
  for (const r of prepared.resources) {
    if (d.cancelRequested === true) throw canceled();
    const op: DeploymentOperation = {
      operationId: randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(),
      provisioningState: 'Running',
      timestamp: new Date().toISOString(),
      target: { id: r.id, resourceType: r.type, resourceName: r.name },
    };
    d.operations.push(op);
    try {
      await startResource(device, rg, r);
      op.provisioningState = 'Succeeded';
      op.statusCode = 'OK';
      op.timestamp = new Date().toISOString();
      d.outputResources.push(r.id);
    } catch (e) {
      const err = toArmError(e);
      op.provisioningState = 'Failed';
      op.statusCode = err.status === 409 ? 'Conflict' : err.status === 404 ? 'NotFound' : err.status >= 500 ? 'InternalServerError' : 'BadRequest';
      if (err.code === BARE_FAILURE_CODE) d.bare = true;
      else op.error = err.body();
      op.timestamp = new Date().toISOString();
      throw new ArmError(409, 'DeploymentFailed', 'deployment failed', undefined, undefined);
    }
  }
  d.outputs = prepared.outputs((refId) => {
    const parsedName = refId.split('/').filter((s) => s !== '');
    const nicIndex = parsedName.findIndex((s) => s.toLowerCase() === 'networkinterfaces');
    if (nicIndex >= 0) {
      const nic = device.nics.get(key(rg, parsedName[nicIndex + 1] ?? ''));
      if (nic !== undefined) return serializeNic(device, nic)['properties'];
    }
    const vmIndex = parsedName.findIndex((s) => s.toLowerCase() === 'virtualmachines');
    if (vmIndex >= 0) {
      const vm = device.vms.get(key(rg, parsedName[vmIndex + 1] ?? ''));
      if (vm !== undefined) {
        const extName = parsedName[vmIndex + 3];
        const ext = extName !== undefined ? vm.extensions.get(extName.toLowerCase()) : undefined;
        return (ext !== undefined ? serializeExtension(device, vm, ext) : serializeVm(device, vm, false))['properties'];
      }
    }
    throw invalidTemplate(`The referenced resource '${refId}' was not found`);
  });
}

/** PUT deployments/{name}: validates and evaluates now, executes in the returned job. */
export function putDeployment(device: DeviceState, rg: string, name: string, body: Record<string, unknown>): { status: 200 | 201; record: DeploymentRecord; job: Promise<void> } {
  const rgName = requireResourceGroup(device, rg);
  if (!/^[-\w._()]{1,64}$/.test(name)) throw badRequest('InvalidDeploymentName', `The deployment name '${name}' is invalid.`, 'name');
  const store = deploymentsOf(device);
  const existing = store.records.get(key(rgName, name));
  if (existing !== undefined && (existing.state === 'Running' || existing.state === 'Accepted')) {
    throw conflict('DeploymentActive', `Unable to edit or replace deployment '${name}': previous deployment from '${existing.timestamp}' is still active (state: ${existing.state}). Please see https://aka.ms/arm-deploy for usage details.`);
  }
  const props = body['properties'];
  if (!isRecord(props)) throw badRequest('InvalidRequestContent', "The request content is missing the required 'properties'.", 'properties');
  const mode = props['mode'];
  if (mode !== 'Incremental' && mode !== 'Complete') throw badRequest('InvalidDeploymentMode', "The deployment 'mode' must be 'Incremental' or 'Complete'.", 'properties.mode');
  if (mode === 'Complete') throw badRequest('InvalidDeploymentMode', "Complete mode deployments are not supported by this device; use 'Incremental'.", 'properties.mode');
  if (props['templateLink'] !== undefined) throw badRequest('InvalidTemplate', 'Template links are not reachable from the device; give the template inline.', 'properties.templateLink');
  if (props['template'] === undefined) throw badRequest('InvalidTemplate', "The deployment has no 'template'.", 'properties.template');
  if (props['parametersLink'] !== undefined) throw badRequest('InvalidTemplate', 'Parameter links are not supported; give the parameters inline.', 'properties.parametersLink');
  const rgRecord = device.resourceGroups.get(key(rgName));
  const prepared = prepareTemplate(props['template'], props['parameters'], {
    subscriptionId: device.subscriptionId,
    tenantId: '',
    resourceGroup: { name: rgName, location: rgRecord?.location ?? 'dbelocal' },
    deploymentName: name,
  });
  checkResourceTypes(device, prepared);
  const record: DeploymentRecord = {
    name: existing?.name ?? name,
    resourceGroup: rgName,
    state: 'Accepted',
    mode,
    correlationId: randomUUID(),
    timestamp: new Date().toISOString(),
    startedAt: Date.now(),
    templateHash: BigInt('0x' + createHash('sha256').update(JSON.stringify(props['template'])).digest('hex').slice(0, 15)).toString(),
    parameters: prepared.echoedParameters,
    operations: [],
    outputResources: [],
  };
  store.records.set(key(rgName, name), record);
  const job = execute(device, record, rgName, prepared).then(
    () => {
      record.state = 'Succeeded';
      record.durationMs = Date.now() - record.startedAt;
    },
    (e: unknown) => {
      record.durationMs = Date.now() - record.startedAt;
      if (e instanceof ArmError && e.code === 'DeploymentCanceled') {
        record.state = 'Canceled';
        throw e;
      }
      const failedOp = record.operations.find((o) => o.provisioningState === 'Failed');
      const inner = failedOp?.error ?? toArmError(e).body();
      record.state = 'Failed';
      record.error = record.bare === true ? { code: BARE_FAILURE_CODE, message: 'The deployment failed.' } : deploymentFailed(inner);
      record.durationMs = Date.now() - record.startedAt;
      throw new ArmError(409, record.error.code, record.error.message, undefined, record.error.details);
    },
  );
  return { status: existing === undefined ? 201 : 200, record, job };
}

/** POST deployments/{name}/cancel: stops a running deployment before its next resource. */
export function cancelDeployment(device: DeviceState, rg: string, name: string): void {
  const d = findDeployment(device, rg, name);
  if (d.state !== 'Running' && d.state !== 'Accepted') {
    throw conflict('DeploymentCannotBeCancelled', `Deployment '${d.name}' cannot be canceled: it is ${d.state}.`);
  }
  d.cancelRequested = true;
}

export function deleteDeployment(device: DeviceState, rg: string, name: string): Promise<void> | undefined {
  requireResourceGroup(device, rg);
  const store = deploymentsOf(device);
  const d = store.records.get(key(rg, name));
  if (d === undefined) return undefined;
  if (d.state === 'Running' || d.state === 'Accepted') {
    throw conflict('DeploymentActive', `Deployment '${name}' is still active; it cannot be deleted until it finishes.`);
  }
  store.records.delete(key(rg, name));
  return Promise.resolve();
}

