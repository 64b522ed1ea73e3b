// Images in the device resource group: GPU VMs need a Gen1 (HyperV V1) image (domain notes: Gen2 VMs are not
// supported for GPU); the image must be in the VM's resource group.
import { type CheckResult, errorText, fail, pass, warn } from '../check.js';
import { armErrorText, type ReadOnlyClient } from '../readOnlyClient.js';

const ID = 'images';
const TITLE = 'VM images';

interface ImageBody {
  name?: string;
  properties?: { hyperVGeneration?: string; storageProfile?: { osDisk?: { osType?: string } }; provisioningState?: string };
}

export async function checkImages(client: ReadOnlyClient, armEndpoint: string, subscriptionId: string, resourceGroup: string, computeApiVersion: string): Promise<CheckResult> {
  const url = `${armEndpoint}/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/images?api-version=${computeApiVersion}`;
  let res;
  try {
    res = await client.get(url);
  } catch (err) {
    return fail(ID, TITLE, `cannot list images: ${errorText(err)}`, 'check that the ARM endpoint is reachable');
  }
  if (res.status === 404) {
    return fail(ID, TITLE, `resource group ${resourceGroup} not found on the device (${armErrorText(res)})`, `create resource group ${resourceGroup} (location dbelocal) on the device, or give the one that holds your images`);
  }
  if (res.status !== 200) return fail(ID, TITLE, `cannot list images in ${resourceGroup}: ${armErrorText(res)}`, 'check that the ARM user may read the resource group');
  const images = ((res.body as { value?: ImageBody[] }).value ?? []).map((i) => ({
    name: i.name ?? '',
    // ARM reports no hyperVGeneration for images made before the property existed: those are V1.
    generation: i.properties?.hyperVGeneration ?? 'V1',
    osType: i.properties?.storageProfile?.osDisk?.osType ?? 'unknown',
  }));
  const details = { resourceGroup, images };
  const listed = images.map((i) => `${i.name} (${i.generation}, ${i.osType})`).join(', ');
  if (images.length === 0) {
    return warn(ID, TITLE, `no images in ${resourceGroup}`, `upload a generalized Gen1 fixed VHD and create an image from it in ${resourceGroup} before creating GpuVms`, details);
  }
  const gen2 = images.filter((i) => i.generation.toUpperCase() === 'V2');
  if (gen2.length > 0) {
    return warn(ID, TITLE, `${listed}; Gen2 image(s) ${gen2.map((i) => i.name).join(', ')} cannot run GPU VMs`, 'GPU VMs need Gen1 images: create the image from a Gen1 (MBR) fixed VHD with hyperVGeneration V1', details);
  }
  return pass(ID, TITLE, listed, details);
}
