// Routing of the device's local ARM: case-insensitive paths to an operation name (used by audit and
// fault rules), the api-versions it accepts, and the handler.
import type { DeviceState } from './device.js';
import { LOCATION, key } from './device.js';
import type { LroTarget, SimRequest, SimResponse } from './http.js';
import { asyncAccepted, checkLocation, jsonObject, locationAccepted, ok, operationAnswer, tagsOf } from './http.js';
import type { VmAction } from './arm/compute.js';
import {
  deleteExtension, deleteVm, findExtension, findVm, putExtension, putImage, putVm, removeVmNow, requireResourceGroup,
  serializeExtension, serializeImage, serializeVm, vmAction, vmInstanceView,
} from './arm/compute.js';
import { cancelDeployment, deleteDeployment, deploymentsOf, findDeployment, putDeployment, serializeDeployment, serializeOperation } from './arm/deployments.js';
import { deleteDisk, findDisk, serializeDisk } from './arm/disks.js';
import { ArmError, badRequest, notFound } from './arm/errors.js';
import { deleteNic, findNic, findVnet, putNic, serializeNic, serializeSubnet, serializeVnet } from './arm/network.js';
import { API_VERSION_SETS, PROVIDERS_ENDPOINT_API_VERSIONS, providerBody, PROVIDER_NAMESPACES } from './apiVersions.js';

export interface Route {
  operation: string;
  /** Accepted api-versions; null = not checked. */
  apiVersions: readonly string[] | null;
  /** Resource type named in NoRegisteredProviderFound. */
  typeName?: string;
  /**
   * ARM's own endpoints (subscriptions, providers, resource groups) refuse a version with
   * InvalidApiVersionParameter; resource providers' types with NoRegisteredProviderFound.
   */
  armNative?: boolean;
  /** Needs a bearer token. */
  auth: boolean;
  run: () => SimResponse | Promise<SimResponse>;
}


const list = (value: unknown[]): SimResponse => ok({ value });

function methodNotAllowed(req: SimRequest): never {
  throw new ArmError(405, 'MethodNotAllowed', `The requested method '${req.method}' is not allowed on '${req.path}'.`);
}

function noRoute(req: SimRequest): Route {
  return {
    operation: 'unknown',
    apiVersions: null,
    auth: true,
    run: () => {
      throw new ArmError(404, 'InvalidRequestUri', `The request URI '${req.path}' is not a valid resource path on this device.`);
    },
  };
}

export function routeDevice(device: DeviceState, req: SimRequest, lroFor: (namespace: string) => LroTarget): Route {
  const s = req.segments;
  const l = s.map((x) => x.toLowerCase());
  const m = req.method;

  if (l[0] === 'metadata' && l[1] === 'endpoints' && l.length === 2) {
    return {
      operation: 'metadata.get',
      apiVersions: null,
      auth: false,
      run: () =>
        ok({
          galleryEndpoint: '',
          graphEndpoint: 'https://graph.windows.net/',
          portalEndpoint: '',
          authentication: { loginEndpoint: `${req.origin}/adfs`, audiences: [`${req.origin}/`] },
        }),
    };
  }
  if (l[0] !== 'subscriptions') return noRoute(req);
  const versions = API_VERSION_SETS[device.config.profile.apiVersions];
  const subscriptionOk = (): void => {
    if (l[1] !== device.subscriptionId.toLowerCase()) {
      throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${s[1] ?? ''}' could not be found.`);
    }
  };
  const subscriptionBody = { id: `/subscriptions/${device.subscriptionId}`, subscriptionId: device.subscriptionId, displayName: 'Default Provider Subscription', state: 'Enabled', tenantId: 'c0257de7-538f-415c-993a-1b87a031879d' };
  if (l.length === 1) return { operation: 'subscription.list', apiVersions: versions.subscriptions, armNative: true, auth: true, run: () => (m === 'GET' ? list([subscriptionBody]) : methodNotAllowed(req)) };
  if (l.length === 2) {
    return { operation: 'subscription.get', apiVersions: versions.subscriptions, armNative: true, auth: true, run: () => (subscriptionOk(), m === 'GET' ? ok(subscriptionBody) : methodNotAllowed(req)) };
  }
  // Operation status / result URLs.
  if (l[2] === 'providers' && l[4] === 'locations' && (l[6] === 'operations' || l[6] === 'operationresults') && l.length === 8) {
    return {
      operation: l[6] === 'operations' ? 'operation.status' : 'operation.result',
      apiVersions: null,
      auth: true,
      run: () => {
        subscriptionOk();
        if (m !== 'GET') methodNotAllowed(req);
        return operationAnswer(device.ctx.operations, l[6] ?? '', s[7] ?? '', device.ctx.timings().retryAfterSeconds);
      },
    };
  }
  // The Resources `Provider` bodies (Providers_List / Providers_Get) listing exactly what the profile accepts.
  if (l[2] === 'providers' && (l.length === 3 || l.length === 4)) {
    return {
      operation: l.length === 3 ? 'provider.list' : 'provider.get',
      apiVersions: PROVIDERS_ENDPOINT_API_VERSIONS,
      armNative: true,
      auth: true,
      run: () => {
        subscriptionOk();
        if (m !== 'GET') methodNotAllowed(req);
        const body = (ns: string): Record<string, unknown> | undefined => providerBody(device.subscriptionId, ns, versions, LOCATION);
        if (l.length === 3) return list(PROVIDER_NAMESPACES.map((ns) => body(ns)));
        const found = body(s[3] ?? '');
        // Assumed wording: the device serves only these namespaces.
        if (found === undefined) throw new ArmError(404, 'NamespaceNotFound', `The resource provider namespace '${s[3] ?? ''}' is not registered on this device.`);
        return ok(found);
      },
    };
  }
  // Every VM of the subscription (one call for all resource groups); statusOnly=true adds instance views
  // (Compute 2020-06-01 only: 2017-12-01's VirtualMachines_ListAll has no statusOnly, so no instance views).
  if (l[2] === 'providers' && l[3] === 'microsoft.compute' && l[4] === 'virtualmachines' && l.length === 5) {
    return {
      operation: 'vm.listAll',
      apiVersions: versions.compute,
      typeName: 'virtualMachines',
      auth: true,
      run: () => {
        subscriptionOk();
        if (m !== 'GET') methodNotAllowed(req);
        const expand = req.apiVersion !== '2017-12-01' && ((req.query.get('statusOnly') ?? '').toLowerCase() === 'true' || (req.query.get('$expand') ?? '').toLowerCase() === 'instanceview');
        return list([...device.vms.values()].map((v) => serializeVm(device, v, expand)));
      },
    };
  }
  if (l[2] !== 'resourcegroups') return noRoute(req);
  const rgLro = lroFor('Microsoft.Resources');
  if (l.length === 3) {
    return {
      operation: 'resourceGroup.list',
      apiVersions: versions.resources,
      armNative: true,
      auth: true,
      run: () => {
        subscriptionOk();
        if (m !== 'GET') methodNotAllowed(req);
        return list([...device.resourceGroups.values()].map((rg) => ({ id: device.resourceGroupId(rg.name), name: rg.name, type: 'Microsoft.Resources/resourceGroups', location: rg.location, tags: rg.tags, properties: { provisioningState: 'Succeeded' } })));
      },
    };
  }
  const rg = s[3] ?? '';
  if (l.length === 4) {
    const verb = m === 'PUT' ? 'put' : m === 'DELETE' ? 'delete' : m === 'HEAD' ? 'head' : 'get';
    return {
      operation: `resourceGroup.${verb}`,
      apiVersions: versions.resources,
      armNative: true,
      auth: true,
      run: () => {
        subscriptionOk();
        const existing = device.resourceGroups.get(key(rg));
        const body = (r: { name: string; location: string; tags: Record<string, string> }): Record<string, unknown> => ({ id: device.resourceGroupId(r.name), name: r.name, type: 'Microsoft.Resources/resourceGroups', location: r.location, tags: r.tags, properties: { provisioningState: 'Succeeded' } });
        switch (m) {
          case 'HEAD':
            return { status: existing === undefined ? 404 : 204 };
          case 'GET':
            if (existing === undefined) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
            return ok(body(existing));
          case 'PUT': {
            if (!/^[-\w._()]{1,90}$/.test(rg) || rg.endsWith('.')) throw badRequest('InvalidResourceGroup', `The resource group name '${rg}' is invalid.`);
            const input = jsonObject(req);
            checkLocation(input, LOCATION);
            const record = { name: existing?.name ?? rg, location: LOCATION, tags: tagsOf(input) };
            device.resourceGroups.set(key(rg), record);
            return ok(body(record), existing === undefined ? 201 : 200);
          }
          case 'DELETE': {
            if (existing === undefined) return { status: 404, body: { error: { code: 'ResourceGroupNotFound', message: `Resource group '${rg}' could not be found.` } } };
            const job = (async () => {
              await device.ctx.clock.delay(device.ctx.timings().deleteMs);
              for (const vm of [...device.vms.values()]) {
                if (vm.resourceGroup.toLowerCase() !== rg.toLowerCase()) continue;
                const id = device.vmId(vm);
                removeVmNow(device, vm);
                if (device.ledger.releaseVm(id)) device.gpuFreed();
              }
              for (const [k, nic] of [...device.nics]) if (nic.resourceGroup.toLowerCase() === rg.toLowerCase()) device.nics.delete(k);
              for (const [k, img] of [...device.images]) if (img.resourceGroup.toLowerCase() === rg.toLowerCase()) device.images.delete(k);
              for (const [k, disk] of [...device.disks]) if (disk.resourceGroup.toLowerCase() === rg.toLowerCase()) device.disks.delete(k);
              for (const [k, v] of [...device.vnets]) if (v.resourceGroup.toLowerCase() === rg.toLowerCase()) device.vnets.delete(k);
              const deployments = deploymentsOf(device).records;
              for (const [k, d] of [...deployments]) if (d.resourceGroup.toLowerCase() === rg.toLowerCase()) deployments.delete(k);
              device.resourceGroups.delete(key(rg));
            })();
            return locationAccepted(rgLro, 'POST', job);
          }
          default:
            return methodNotAllowed(req);
        }
      },
    };
  }
  // The 2019-10-01 deployment operations path has no providers/Microsoft.Resources segment.
  if (l[4] === 'deployments' && (l.length === 7 || l.length === 8) && l[6] === 'operations') {
    return routeDevice(device, { ...req, segments: [...s.slice(0, 4), 'providers', 'Microsoft.Resources', ...s.slice(4)] }, lroFor);
  }
  if (l[4] !== 'providers' || l.length < 7) return noRoute(req);
  const ns = l[5] ?? '';
  const type = l[6] ?? '';
  const name = s[7] ?? '';
  const withRg = <T>(fn: () => T): T => {
    subscriptionOk();
    requireResourceGroup(device, rg);
    return fn();
  };

  if (ns === 'microsoft.compute') {
    const lro = lroFor('Microsoft.Compute');
    const base = { apiVersions: versions.compute, auth: true } as const;
    if (type === 'images') {
      if (l.length === 7) return { ...base, typeName: 'images', operation: 'image.list', run: () => withRg(() => (m === 'GET' ? list([...device.images.values()].filter((i) => i.resourceGroup.toLowerCase() === rg.toLowerCase()).map((i) => serializeImage(device, i))) : methodNotAllowed(req))) };
      if (l.length === 8) {
        return {
          ...base,
          typeName: 'images',
          operation: `image.${m.toLowerCase()}`,
          run: () =>
            withRg(() => {
              const image = device.images.get(key(rg, name));
              if (m === 'GET') {
                if (image === undefined) throw notFound('Microsoft.Compute/images', name, rg);
                return ok(serializeImage(device, image));
              }
              if (m === 'PUT') {
                const { status, image: created } = putImage(device, rg, name, jsonObject(req));
                return asyncAccepted(lro, status, serializeImage(device, created), Promise.resolve());
              }
              if (m === 'DELETE') {
                if (image === undefined) return { status: 204 };
                device.images.delete(key(rg, name));
                return locationAccepted(lro, 'DELETE', Promise.resolve());
              }
              return methodNotAllowed(req);
            }),
        };
      }
    }
    if (type === 'disks') {
      const diskBase = { ...base, apiVersions: versions.disks, typeName: 'disks' };
      if (l.length === 7) return { ...diskBase, operation: 'disk.list', run: () => withRg(() => (m === 'GET' ? list([...device.disks.values()].filter((d) => d.resourceGroup.toLowerCase() === rg.toLowerCase()).map((d) => serializeDisk(device, d, req.apiVersion))) : methodNotAllowed(req))) };
      if (l.length === 8) {
        return {
          ...diskBase,
          operation: `disk.${m === 'DELETE' ? 'delete' : m === 'GET' ? 'get' : m.toLowerCase()}`,
          run: () =>
            withRg(() => {
              if (m === 'GET') return ok(serializeDisk(device, findDisk(device, rg, name), req.apiVersion));
              if (m === 'DELETE') {
                const job = deleteDisk(device, rg, name);
                return job === undefined ? { status: 204 } : locationAccepted(lro, 'DELETE', job);
              }
              // Disks come only from VM creation here (assumed: the device's empty-disk PUT is not modelled).
              if (m === 'PUT' || m === 'PATCH') throw badRequest('OperationNotSupported', 'Managed disks are created with their VM on this simulated device.');
              return methodNotAllowed(req);
            }),
        };
      }
    }
    if (type === 'virtualmachines') {
      if (l.length === 7) {
        const expand = req.apiVersion !== '2017-12-01' && (req.query.get('$expand') ?? '').toLowerCase() === 'instanceview';
        return { ...base, typeName: 'virtualMachines', operation: 'vm.list', run: () => withRg(() => (m === 'GET' ? list([...device.vms.values()].filter((v) => v.resourceGroup.toLowerCase() === rg.toLowerCase()).map((v) => serializeVm(device, v, expand))) : methodNotAllowed(req))) };
      }
      if (l.length === 8) {
        const verb = m === 'PUT' ? 'put' : m === 'DELETE' ? 'delete' : m === 'GET' ? 'get' : m.toLowerCase();
        return {
          ...base,
          typeName: 'virtualMachines',
          operation: `vm.${verb}`,
          run: () =>
            withRg(() => {
              if (m === 'GET') {
                const expand = (req.query.get('$expand') ?? '').toLowerCase() === 'instanceview';
                return ok(serializeVm(device, findVm(device, rg, name), expand));
              }
              if (m === 'PUT') {
                const { status, vm, job } = putVm(device, rg, name, jsonObject(req));
                return asyncAccepted(lro, status, serializeVm(device, vm, false), job);
              }
              if (m === 'DELETE') {
                const job = deleteVm(device, rg, name);
                return job === undefined ? { status: 204 } : locationAccepted(lro, 'DELETE', job);
              }
              return methodNotAllowed(req);
            }),
        };
      }
      const sub = l[8] ?? '';
      if (l.length === 9 && ['start', 'poweroff', 'deallocate', 'restart'].includes(sub)) {
        const action = ({ start: 'start', poweroff: 'powerOff', deallocate: 'deallocate', restart: 'restart' } as const)[sub as 'start'];
        return {
          ...base,
          typeName: 'virtualMachines',
          operation: `vm.${action}`,
          run: () => withRg(() => (m === 'POST' ? locationAccepted(lro, 'POST', vmAction(device, rg, name, action as VmAction)) : methodNotAllowed(req))),
        };
      }
      if (l.length === 9 && sub === 'instanceview') {
        return { ...base, typeName: 'virtualMachines', operation: 'vm.instanceView', run: () => withRg(() => (m === 'GET' ? ok(vmInstanceView(device, findVm(device, rg, name))) : methodNotAllowed(req))) };
      }
      if (sub === 'extensions' && (l.length === 9 || l.length === 10)) {
        const extName = s[9] ?? '';
        const verb = l.length === 9 ? 'list' : m === 'PUT' ? 'put' : m === 'DELETE' ? 'delete' : 'get';
        return {
          ...base,
          typeName: 'virtualMachines/extensions',
          operation: `extension.${verb}`,
          run: () =>
            withRg(() => {
              if (l.length === 9) {
                if (m !== 'GET') methodNotAllowed(req);
                const vm = findVm(device, rg, name);
                return list([...vm.extensions.values()].map((e) => serializeExtension(device, vm, e)));
              }
              if (m === 'GET') {
                const vm = findVm(device, rg, name);
                return ok(serializeExtension(device, vm, findExtension(device, vm, extName)));
              }
              if (m === 'PUT') {
                const { status, vm, ext, job } = putExtension(device, rg, name, extName, jsonObject(req));
                return asyncAccepted(lro, status, serializeExtension(device, vm, ext), job);
              }
              if (m === 'DELETE') {
                const job = deleteExtension(device, rg, name, extName);
                return job === undefined ? { status: 204 } : locationAccepted(lro, 'DELETE', job);
              }
              return methodNotAllowed(req);
            }),
        };
      }
    }
    return { ...base, operation: 'unknown', typeName: type, run: () => { throw badRequest('InvalidResourceType', `The resource type '${s[6] ?? ''}' could not be found in the namespace 'Microsoft.Compute'.`); } };
  }

  if (ns === 'microsoft.network') {
    const lro = lroFor('Microsoft.Network');
    const base = { apiVersions: versions.network, auth: true } as const;
    if (type === 'virtualnetworks') {
      if (l.length === 7) return { ...base, typeName: 'virtualNetworks', operation: 'vnet.list', run: () => withRg(() => (m === 'GET' ? list([...device.vnets.values()].filter((v) => v.resourceGroup.toLowerCase() === rg.toLowerCase()).map((v) => serializeVnet(device, v))) : methodNotAllowed(req))) };
      if (l.length === 8) return { ...base, typeName: 'virtualNetworks', operation: `vnet.${m.toLowerCase()}`, run: () =>
            withRg(() => {
              if (m === 'GET') return ok(serializeVnet(device, findVnet(device, rg, name)));
              throw badRequest('OperationNotSupported', 'Virtual networks are created by enabling compute on a device port, not through ARM.');
            }),
        };
      if (l[8] === 'subnets' && (l.length === 9 || l.length === 10)) {
        return {
          ...base,
          typeName: 'virtualNetworks/subnets',
          operation: l.length === 9 ? 'subnet.list' : 'subnet.get',
          run: () =>
            withRg(() => {
              if (m !== 'GET') methodNotAllowed(req);
              const vnet = findVnet(device, rg, name);
              if (l.length === 9) return list(vnet.subnets.map((sn) => serializeSubnet(device, vnet, sn)));
              const subnet = vnet.subnets.find((sn) => sn.name.toLowerCase() === l[9]);
              if (subnet === undefined) throw notFound('Microsoft.Network/virtualNetworks/subnets', `${vnet.name}/${s[9] ?? ''}`, rg);
              return ok(serializeSubnet(device, vnet, subnet));
            }),
        };
      }
    }
    if (type === 'networkinterfaces') {
      if (l.length === 7) return { ...base, typeName: 'networkInterfaces', operation: 'nic.list', run: () => withRg(() => (m === 'GET' ? list([...device.nics.values()].filter((n) => n.resourceGroup.toLowerCase() === rg.toLowerCase()).map((n) => serializeNic(device, n))) : methodNotAllowed(req))) };
      if (l.length === 8) {
        const verb = m === 'PUT' ? 'put' : m === 'DELETE' ? 'delete' : m === 'GET' ? 'get' : m.toLowerCase();
        return {
          ...base,
          typeName: 'networkInterfaces',
          operation: `nic.${verb}`,
          run: () =>
            withRg(() => {
              if (m === 'GET') return ok(serializeNic(device, findNic(device, rg, name)));
              if (m === 'PUT') {
                const { status, nic, job } = putNic(device, rg, name, jsonObject(req));
                return asyncAccepted(lro, status, serializeNic(device, nic), job);
              }
              if (m === 'DELETE') {
                const job = deleteNic(device, rg, name);
                return job === undefined ? { status: 204 } : locationAccepted(lro, 'DELETE', job);
              }
              return methodNotAllowed(req);
            }),
        };
      }
    }
    return { ...base, operation: 'unknown', typeName: type, run: () => { throw badRequest('InvalidResourceType', `The resource type '${s[6] ?? ''}' could not be found in the namespace 'Microsoft.Network'.`); } };
  }

  if (ns === 'microsoft.resources' && type === 'deployments') {
    const base = { apiVersions: versions.resources, auth: true, typeName: 'deployments' } as const;
    if (l.length === 7) return { ...base, operation: 'deployment.list', run: () => withRg(() => (m === 'GET' ? list([...deploymentsOf(device).records.values()].filter((d) => d.resourceGroup.toLowerCase() === rg.toLowerCase()).map((d) => serializeDeployment(device, d))) : methodNotAllowed(req))) };
    if (l.length === 8) {
      const verb = m === 'PUT' ? 'put' : m === 'DELETE' ? 'delete' : m === 'GET' ? 'get' : m === 'HEAD' ? 'head' : m.toLowerCase();
      return {
        ...base,
        operation: `deployment.${verb}`,
        run: () =>
          withRg(() => {
            if (m === 'GET') return ok(serializeDeployment(device, findDeployment(device, rg, name)));
            if (m === 'HEAD') return { status: deploymentsOf(device).records.has(key(rg, name)) ? 204 : 404 };
            if (m === 'PUT') {
              const { status, record, job } = putDeployment(device, rg, name, jsonObject(req));
              return asyncAccepted(rgLro, status, serializeDeployment(device, record), job);
            }
            if (m === 'DELETE') {
              const job = deleteDeployment(device, rg, name);
              return job === undefined ? { status: 204 } : locationAccepted(rgLro, 'DELETE', job);
            }
            return methodNotAllowed(req);
          }),
      };
    }
    if (l.length === 9 && l[8] === 'cancel') {
      return {
        ...base,
        operation: 'deployment.cancel',
        run: () =>
          withRg(() => {
            if (m !== 'POST') methodNotAllowed(req);
            cancelDeployment(device, rg, name);
            return { status: 204 };
          }),
      };
    }
    if (l.length === 10 && l[8] === 'operations') {
      return {
        ...base,
        operation: 'deployment.operations',
        run: () =>
          withRg(() => {
            if (m !== 'GET') methodNotAllowed(req);
            const d = findDeployment(device, rg, name);
            const op = d.operations.find((o) => o.operationId.toLowerCase() === l[9]);
            if (op === undefined) throw new ArmError(404, 'DeploymentOperationNotFound', `Operation '${s[9] ?? ''}' of deployment '${d.name}' could not be found.`);
            return ok(serializeOperation(device, d, op));
          }),
      };
    }
    if (l.length === 9 && l[8] === 'operations') {
      return {
        ...base,
        operation: 'deployment.operations',
        run: () =>
          withRg(() => {
            if (m !== 'GET') methodNotAllowed(req);
            const d = findDeployment(device, rg, name);
            return list(d.operations.map((op) => serializeOperation(device, d, op)));
          }),
      };
    }
  }
  return {
    operation: 'unknown',
    apiVersions: null,
    auth: true,
    run: () => {
      throw new ArmError(400, 'NoRegisteredProviderFound', `No registered resource provider found for location '${LOCATION}' and resource type '${s[5] ?? ''}/${s[6] ?? ''}'.`);
    },
  };
}
