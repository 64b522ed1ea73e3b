// The device's resource in Azure: the device (SKU, software version, configured role types), its compute roles
// of any kind (any of them may hold the GPUs, domain notes) and deviceCapacityInfo (GPU capacity).
import type { AzureComputeRole, AzureDevice, AzureDeviceFacts, AzureGpuCapacity } from '../../azure/azureDevice.js';
import { type CheckResult, errorText, fail, pass, warn, withDeadline } from '../check.js';

const ID = 'azure';
const TITLE = 'Azure-side device';

/** The reads of the Azure-side device port that doctor uses. */
export type AzureSideReader = Pick<AzureDevice, 'getDevice' | 'getComputeRoles' | 'getGpuCapacity'>;

export interface AzureSideOutcome {
  result: CheckResult;
  softwareVersion?: string;
}

function fixFor(message: string): string {
  if (/AADSTS7000215|invalid_client|client secret|AADSTS700016|unauthorized_client/i.test(message)) {
    return 'the service principal (tenantId/clientId/clientSecret) is wrong or its secret expired: create a new client secret and update the credentials';
  }
  if (/AuthorizationFailed|403/i.test(message)) return 'give the service principal the Reader role (and Contributor to manage the Kubernetes role) on the device resource';
  if (/ResourceNotFound|404|not found/i.test(message)) return 'check the Azure resource id of the device (Azure portal > the Azure Stack Edge resource > Properties > Resource ID)';
  return 'check the Azure endpoint, authority host and the service principal credentials';
}

export async function checkAzureSide(reader: AzureSideReader, resourceId: string, timeoutMs: number): Promise<AzureSideOutcome> {
  let device: AzureDeviceFacts;
  try {
    device = await withDeadline(reader.getDevice(), timeoutMs, 'reading the Azure-side device');
  } catch (err) {
    const message = errorText(err);
    return { result: fail(ID, TITLE, `cannot read ${resourceId}: ${message}`, fixFor(message)) };
  }
  const notes: string[] = [];
  let roles: AzureComputeRole[] | undefined;
  let capacity: AzureGpuCapacity | undefined;
  try {
    roles = await withDeadline(reader.getComputeRoles(), timeoutMs, 'listing compute roles');
  } catch (err) {
    notes.push(`compute roles unreadable: ${errorText(err)}`);
  }
  try {
    capacity = await withDeadline(reader.getGpuCapacity(), timeoutMs, 'reading deviceCapacityInfo');
  } catch (err) {
    notes.push(`deviceCapacityInfo unreadable: ${errorText(err)}`);
  }
  const details = { resourceId, device, roles: roles ?? null, gpuCapacity: capacity ?? null };
  const roleText = roles === undefined ? 'roles unknown' : roles.length === 0 ? 'no compute role' : `roles ${roles.map((r) => `${r.name} (${r.kind}, ${r.provisioningState}${r.roleStatus !== undefined ? `, ${r.roleStatus}` : ''})`).join(', ')}`;
  const capacityText = capacity === undefined ? 'GPU capacity not reported' : `GPUs ${capacity.total} total, ${capacity.used} used, ${capacity.free} free`;
  const summary = `SKU ${device.sku ?? 'unknown'}, software ${device.softwareVersion ?? 'unknown'}; ${roleText}; ${capacityText}`;
  const softwareVersion = device.softwareVersion !== undefined ? { softwareVersion: device.softwareVersion } : {};
  if (notes.length > 0) return { result: warn(ID, TITLE, `${summary}; ${notes.join('; ')}`, fixFor(notes.join(' ')), details), ...softwareVersion };
  const failedRoles = (roles ?? []).filter((r) => r.provisioningState.toLowerCase() === 'failed');
  if (failedRoles.length > 0) {
    return { result: warn(ID, TITLE, summary, `compute role(s) ${failedRoles.map((r) => r.name).join(', ')} failed: fix or remove them in the Azure portal (they may hold GPUs)`, details), ...softwareVersion };
  }
  return { result: pass(ID, TITLE, summary, details), ...softwareVersion };
}
