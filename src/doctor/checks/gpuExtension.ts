// GPU driver extension: publisher Microsoft.HpcCompute, the type and version the controller would install for
// this device release (src/plan/gpuDriver.ts), and whether the device lists that extension image.
import { GPU_EXTENSION_PUBLISHER, type GpuDriverChoice } from '../../arm/gpuExtension.js';
import { chooseGpuDriver } from '../../plan/gpuDriver.js';
import { type CheckResult, errorText, fail, pass, warn } from '../check.js';
import type { ReadOnlyClient } from '../readOnlyClient.js';

const ID = 'gpuExtension';
const TITLE = 'GPU driver extension';

export interface GpuExtensionInput {
  armEndpoint: string;
  subscriptionId: string;
  location: string;
  computeApiVersion: string;
  softwareVersion: string | undefined;
}

type Listed = { served: true; versions: string[] } | { served: false; why: string };

/**
 * VirtualMachineExtensionImages_ListVersions (Azure REST specs, Compute compute.json 2020-06-01, upstream 116d7966;
 * 2017-12-01, upstream 70db689a): .../publishers/{p}/artifacttypes/vmextension/types/{t}/versions, an array of {name}.
 */
async function listedVersions(client: ReadOnlyClient, input: GpuExtensionInput, type: string): Promise<Listed> {
  const url = `${input.armEndpoint}/subscriptions/${input.subscriptionId}/providers/Microsoft.Compute/locations/${input.location}/publishers/${GPU_EXTENSION_PUBLISHER}/artifacttypes/vmextension/types/${type}/versions?api-version=${input.computeApiVersion}`;
  const res = await client.get(url);
  if (res.status !== 200) return { served: false, why: `HTTP ${res.status}` };
  const body = res.body as { name?: string }[] | { value?: { name?: string }[] };
  const items = Array.isArray(body) ? body : (body.value ?? []);
  return { served: true, versions: items.map((i) => i.name ?? '').filter((n) => n !== '') };
}

/** "1.8" matches "1.8", "1.8.0" and "1.8.0.1": the handler version is major.minor, images carry full versions. */
const matchesHandler = (listed: string, handler: string): boolean => listed === handler || listed.startsWith(`${handler}.`);

export async function checkGpuExtension(client: ReadOnlyClient, input: GpuExtensionInput): Promise<CheckResult> {
  const choices: GpuDriverChoice[] = [chooseGpuDriver({ image: { osType: 'Linux' } }, input.softwareVersion), chooseGpuDriver({ image: { osType: 'Windows' } }, input.softwareVersion)];
  const described = choices.map((c) => `${c.extensionType} ${c.typeHandlerVersion}`).join(', ');
  const basis = choices[0]?.basis ?? '';
  const rows: { type: string; typeHandlerVersion: string; listed: string[] | null; available: boolean | null }[] = [];
  try {
    for (const c of choices) {
      const listed = await listedVersions(client, input, c.extensionType);
      rows.push({
        type: c.extensionType,
        typeHandlerVersion: c.typeHandlerVersion,
        listed: listed.served ? listed.versions : null,
        available: listed.served ? listed.versions.some((v) => matchesHandler(v, c.typeHandlerVersion)) : null,
      });
    }
  } catch (err) {
    return fail(ID, TITLE, `cannot read extension images: ${errorText(err)}`, 'check that the ARM endpoint is reachable');
  }
  const details = { publisher: GPU_EXTENSION_PUBLISHER, basis, choices: rows };
  const missing = rows.filter((r) => r.available === false);
  if (missing.length > 0) {
    return fail(ID, TITLE, `${GPU_EXTENSION_PUBLISHER} does not list ${missing.map((r) => `${r.type} ${r.typeHandlerVersion} (listed: ${(r.listed ?? []).join(', ') || 'none'})`).join('; ')} (chosen for ${basis})`,
      'pin a listed version in the GpuVm (spec.gpuDriver.typeHandlerVersion), or update the device software', details);
  }
  if (rows.some((r) => r.available === null)) {
    return warn(ID, TITLE, `the controller would install ${GPU_EXTENSION_PUBLISHER} ${described} (${basis}); the device does not list extension images, so availability is unconfirmed`,
      'nothing to do before creating a GpuVm; the driver install needs internet access from the compute port, and a wrong version shows as VMExtensionProvisioningError on the GpuVm', details);
  }
  return pass(ID, TITLE, `${GPU_EXTENSION_PUBLISHER} ${described} listed (${basis})`, details);
}
