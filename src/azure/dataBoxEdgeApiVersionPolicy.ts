// The DataBoxEdge requests the controller makes are validated against the published specification
// Azure/azure-rest-api-specs specification/databoxedge/resource-manager/Microsoft.DataBoxEdge/stable/2021-06-01
// (databoxedge.json; devices, roles). deviceCapacityInfo exists only from 2023-12-01 (same repository,
// stable/2023-12-01). This policy pins those versions on every DataBoxEdge request, LRO polls included, so a
// package update or a service-chosen poll URL cannot move the controller onto an api it was not checked with.
import type { PipelinePolicy } from '@azure/core-rest-pipeline';

export const DATABOXEDGE_API_VERSION = '2021-06-01';
export const CAPACITY_API_VERSION = '2023-12-01';

export function dataBoxEdgeApiVersionFor(pathname: string): string | undefined {
  const path = pathname.toLowerCase();
  if (!path.includes('/providers/microsoft.databoxedge/')) return undefined;
  return /\/devicecapacityinfo(\/|$)/.test(path) ? CAPACITY_API_VERSION : DATABOXEDGE_API_VERSION;
}

export function dataBoxEdgeApiVersionPolicy(): PipelinePolicy {
  return {
    name: 'gpuvmDataBoxEdgeApiVersion',
    async sendRequest(request, next) {
      const url = new URL(request.url);
      const version = dataBoxEdgeApiVersionFor(url.pathname);
      if (version !== undefined) {
        url.searchParams.set('api-version', version);
        request.url = url.toString();
      }
      return next(request);
    },
  };
}
