import { redactBody, REDACTED } from '../bodyRedaction.js';
import { prepareTemplate } from '../template/evaluator.js';
import { checkTemplateResource, resourceOfPath, templateResourceBody } from './requestBodies.js';
import { contractFor } from './requestSchemas.js';
import type { BodyViolation } from './validateBody.js';
import { validateBody } from './validateBody.js';

const role = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ kind: 'Kubernetes', properties, ...extra });
const validRoleProperties = { hostPlatform: 'Linux', kubernetesClusterInfo: { version: 'v1.27.1' }, kubernetesRoleResources: { compute: { vmProfile: 'DS5' } }, roleStatus: 'Enabled' };
const vm = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ location: 'dbelocal', properties, ...extra });
const vmProperties = {
  hardwareProfile: { vmSize: 'Standard_NC4as_T4_v3' },
  osProfile: { computerName: 'vm1', adminUsername: 'azureuser', adminPassword: 'x' },
  storageProfile: { imageReference: { id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/img' }, osDisk: { createOption: 'FromImage', caching: 'ReadWrite', managedDisk: { storageAccountType: 'Standard_LRS' } } },
  networkProfile: { networkInterfaces: [{ id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic' }] },
};

const summary = (vs: readonly BodyViolation[]) => vs.map((v) => `${v.kind} ${v.path} ${v.code}`);

function check(namespace: string, type: string, apiVersion: string, body: unknown): string[] {
  const result = validateBody(namespace, type, apiVersion, body);
  if (result === undefined) throw new Error(`no contract for ${namespace}/${type}@${apiVersion}`);
  return summary(result.violations);
}

describe('validateBody (derived from the published specs)', () => {
  test.each<[string, string, string, string, unknown, string[]]>([
    // valid bodies
    ['a valid Kubernetes role', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', role(validRoleProperties), []],
    ['a valid Kubernetes role (2023-12-01 extract)', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2023-12-01', role(validRoleProperties), []],
    ['a valid VM (2017-03-30)', 'Microsoft.Compute', 'virtualMachines', '2017-03-30', vm(vmProperties), []],
    ['a valid VM (2020-06-01)', 'Microsoft.Compute', 'virtualMachines', '2020-06-01', vm(vmProperties, { tags: { owner: 'x' } }), []],
    // required
    ['role without kind', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', { properties: validRoleProperties }, ['unknown properties InvalidRequestContent', 'required kind InvalidRequestContent']],
    ['role without hostPlatform', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', role({ ...validRoleProperties, hostPlatform: undefined }), ['required properties.hostPlatform InvalidRequestContent']],
    ['deployment without mode', 'Microsoft.Resources', 'deployments', '2019-10-01', { properties: { template: {} } }, ['required properties.mode InvalidRequestContent']],
    ['resource group without location', 'Microsoft.Resources', 'resourceGroups', '2019-10-01', { tags: {} }, ['required location InvalidRequestContent']],
    ['osDisk without createOption (nested)', 'Microsoft.Compute', 'virtualMachines', '2017-03-30', vm({ ...vmProperties, storageProfile: { osDisk: { caching: 'ReadWrite' } } }), ['required properties.storageProfile.osDisk.createOption InvalidRequestContent']],
    // enum (x-ms-enum modelAsString is still closed)
    ['hostPlatform KubernetesCluster', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', role({ ...validRoleProperties, hostPlatform: 'KubernetesCluster' }), ['enum properties.hostPlatform InvalidParameter']],
    ['deployment mode Partial', 'Microsoft.Resources', 'deployments', '2020-06-01', { properties: { mode: 'Partial' } }, ['enum properties.mode InvalidParameter']],
    ['NIC allocation method Fixed (array item)', 'Microsoft.Network', 'networkInterfaces', '2017-10-01', { location: 'dbelocal', properties: { ipConfigurations: [{ name: 'ip', properties: { privateIPAllocationMethod: 'Fixed' } }] } }, ['enum properties.ipConfigurations[0].properties.privateIPAllocationMethod InvalidParameter']],
    // type
    ['autoUpgradeMinorVersion as a string', 'Microsoft.Compute', 'virtualMachines/extensions', '2017-03-30', { location: 'dbelocal', properties: { autoUpgradeMinorVersion: 'true' } }, ['type properties.autoUpgradeMinorVersion InvalidRequestContent']],
    ['diskSizeGB as a string', 'Microsoft.Compute', 'virtualMachines', '2020-06-01', vm({ ...vmProperties, storageProfile: { osDisk: { createOption: 'FromImage', diskSizeGB: '30' } } }), ['type properties.storageProfile.osDisk.diskSizeGB InvalidRequestContent']],
    ['networkInterfaces as an object', 'Microsoft.Compute', 'virtualMachines', '2020-06-01', vm({ ...vmProperties, networkProfile: { networkInterfaces: { id: 'x' } } }), ['type properties.networkProfile.networkInterfaces InvalidRequestContent']],
    ['tags with a number', 'Microsoft.Compute', 'images', '2020-06-01', { location: 'dbelocal', tags: { n: 1 }, properties: {} }, ['type tags.n InvalidRequestContent']],
    // unknown property
    ['an unknown VM property', 'Microsoft.Compute', 'virtualMachines', '2017-03-30', vm({ ...vmProperties, gpuCount: 1 }), ['unknown properties.gpuCount InvalidRequestContent']],
    ['an unknown nested property', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', role({ ...validRoleProperties, kubernetesRoleResources: { compute: { vmProfile: 'DS5', gpus: 2 } } }), ['unknown properties.kubernetesRoleResources.compute.gpus InvalidRequestContent']],
    ['free-form extension settings accept anything', 'Microsoft.Compute', 'virtualMachines/extensions', '2020-06-01', { location: 'dbelocal', properties: { settings: { any: { thing: [1] } } } }, []],
    // readOnly (ARM drops them; reported for strict replay)
    ['hostPlatformType sent by a client', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', role({ ...validRoleProperties, hostPlatformType: 'KubernetesCluster' }), ['readOnly properties.hostPlatformType InvalidRequestContent']],
    ['provisioningState and id sent by a client', 'Microsoft.Compute', 'virtualMachines', '2020-06-01', vm({ ...vmProperties, provisioningState: 'Succeeded' }, { id: '/x' }), ['readOnly id InvalidRequestContent', 'readOnly properties.provisioningState InvalidRequestContent']],
    // discriminator: the kind selects the definition
    ['IOT role checked as IoTRole', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', { kind: 'IOT', properties: { hostPlatform: 'Linux', roleStatus: 'Enabled', kubernetesClusterInfo: {} } }, ['unknown properties.kubernetesClusterInfo InvalidRequestContent', 'required properties.ioTDeviceDetails InvalidRequestContent', 'required properties.ioTEdgeDeviceDetails InvalidRequestContent']],
    ['an unknown kind', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', { kind: 'Serverless' }, ['enum kind InvalidParameter']],
    ['a kind with no subtype (ASA) has no properties', 'Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', { kind: 'ASA', properties: {} }, ['unknown properties InvalidRequestContent']],
  ])('%s', (_what, namespace, type, apiVersion, body, expected) => {
    expect(check(namespace, type, apiVersion, body).sort()).toEqual([...expected].sort());
  });

  test('messages name the property and, for enums, the allowed values', () => {
    const [v] = validateBody('Microsoft.DataBoxEdge', 'dataBoxEdgeDevices/roles', '2021-06-01', role({ ...validRoleProperties, hostPlatform: 'KubernetesCluster' }))?.violations ?? [];
    expect(v?.allowed).toEqual(['Windows', 'Linux']);
    expect(v?.message).toMatch(/'KubernetesCluster'.*'properties\.hostPlatform'.*Windows, Linux/);
    const [u] = validateBody('Microsoft.Compute', 'virtualMachines', '2017-03-30', vm({ ...vmProperties, gpuCount: 1 }))?.violations ?? [];
    expect(u?.message).toBe("Could not find member 'gpuCount' on object of type 'VirtualMachineProperties'. Path 'properties.gpuCount'.");
  });

  test('an api-version without a derived spec uses the nearest one; unknown types have no contract', () => {
    expect(contractFor('Microsoft.Resources', 'deployments', '2018-05-01')).toMatchObject({ apiVersion: '2019-10-01', exact: false });
    expect(contractFor('Microsoft.Compute', 'virtualMachines', '2024-03-01')).toMatchObject({ apiVersion: '2020-06-01', exact: false });
    expect(contractFor('Microsoft.Compute', 'virtualMachines', '2017-12-01')).toMatchObject({ apiVersion: '2017-12-01', exact: true });
    expect(contractFor('Microsoft.Compute', 'disks', '2019-07-01')).toBeUndefined();
    expect(validateBody('Microsoft.Storage', 'storageAccounts', '2019-06-01', {})).toBeUndefined();
  });

  test('request paths map to resource types', () => {
    const seg = (p: string) => p.split('/').filter((s) => s !== '');
    expect(resourceOfPath(seg('/subscriptions/s/resourceGroups/rg'))).toEqual({ namespace: 'Microsoft.Resources', resourceType: 'resourceGroups' });
    expect(resourceOfPath(seg('/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/gpu'))).toEqual({ namespace: 'Microsoft.Compute', resourceType: 'virtualMachines/extensions' });
    expect(resourceOfPath(seg('/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/d/roles/k8s'))).toEqual({ namespace: 'Microsoft.DataBoxEdge', resourceType: 'dataBoxEdgeDevices/roles' });
    expect(resourceOfPath(seg('/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/start'))).toBeUndefined();
  });

  test('template resources are checked after evaluation, without template syntax, at their own api-version or their profile’s', () => {
    const template = {
      apiProfile: '2018-03-01-hybrid',
      parameters: { size: { type: 'string' }, mode: { type: 'string' } },
      resources: [
        { type: 'Microsoft.Network/networkInterfaces', apiVersion: '2017-10-01', name: 'nic', location: "[resourceGroup().location]", dependsOn: [], properties: { ipConfigurations: [{ name: 'ip', properties: { privateIPAllocationMethod: "[parameters('mode')]" } }] } },
        { type: 'Microsoft.Compute/virtualMachines/extensions', name: 'vm/gpu', location: 'dbelocal', properties: { autoUpgradeMinorVersion: true, bogus: "[parameters('size')]" } },
      ],
    };
    const prepared = prepareTemplate(template, { size: { value: 'x' }, mode: { value: 'Sometimes' } }, { subscriptionId: 's', tenantId: '', resourceGroup: { name: 'rg', location: 'dbelocal' }, deploymentName: 'd' });
    const [nic, ext] = prepared.resources;
    if (nic === undefined || ext === undefined) throw new Error('template resources missing');
    expect(Object.keys(templateResourceBody(nic)).sort()).toEqual(['location', 'properties']);
    const nicCheck = checkTemplateResource(nic, prepared.apiProfile);
    expect(summary(nicCheck?.violations ?? [])).toEqual(['enum properties.ipConfigurations[0].properties.privateIPAllocationMethod InvalidParameter']);
    expect(nicCheck?.violations[0]?.message).toMatch(/'Sometimes'/);
    const extCheck = checkTemplateResource(ext, prepared.apiProfile);
    expect(extCheck).toMatchObject({ apiVersion: '2017-03-30', exact: true });
    expect(summary(extCheck?.violations ?? [])).toEqual(['unknown properties.bogus InvalidRequestContent']);
  });
});

describe('redactBody', () => {
  test('redacts secure parameter values, secure defaults and secret-named keys, keeping shapes and declarations', () => {
    const body = {
      properties: {
        mode: 'Incremental',
        template: {
          parameters: { Password: { type: 'securestring' }, blob: { type: 'secureObject', defaultValue: { a: 'default-secret', n: 7 } }, vmName: { type: 'string' } },
          resources: [{ properties: { osProfile: { adminPassword: "[parameters('Password')]" }, protectedSettings: { key: 'k-secret' }, settings: { clientSecret: 'cs-secret' } } }],
        },
        parameters: { Password: { value: 'p-secret' }, blob: { value: { token: 'b-secret', nested: ['x-secret'] } }, vmName: { value: 'vm1' } },
      },
    };
    const redacted = redactBody(body);
    const text = JSON.stringify(redacted);
    for (const secret of ['p-secret', 'b-secret', 'x-secret', 'default-secret', 'k-secret', 'cs-secret']) expect(text).not.toContain(secret);
    expect(redacted).toMatchObject({
      properties: {
        template: { parameters: { Password: { type: 'securestring' }, blob: { type: 'secureObject', defaultValue: { a: REDACTED, n: 0 } } } },
        parameters: { Password: { value: REDACTED }, blob: { value: { token: REDACTED, nested: [REDACTED] } }, vmName: { value: 'vm1' } },
      },
    });
    expect(body.properties.parameters.Password.value).toBe('p-secret');
    expect(redactBody({ kind: 'Kubernetes', properties: { password: 'x', roleStatus: 'Enabled' } })).toEqual({ kind: 'Kubernetes', properties: { password: REDACTED, roleStatus: 'Enabled' } });
    const nic = { properties: { ipConfigurations: [{ properties: { privateIPAllocationMethod: 'Static', privateIPAddress: '10.0.0.5' } }] }, privateKey: 'pk' };
    expect(redactBody(nic)).toEqual({ ...nic, privateKey: REDACTED });
  });
});
