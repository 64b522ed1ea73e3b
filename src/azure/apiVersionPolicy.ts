// The current @azure/arm-compute hard-codes a recent api-version; an Azure Stack Edge device speaks the
// 2020-09-01-hybrid profile (Compute 2020-06-01). This policy rewrites the api-version of every
// Microsoft.Compute request, including LRO polls and next-page links.
import type { PipelinePolicy } from '@azure/core-rest-pipeline';

export const COMPUTE_API_VERSION = '2020-06-01';
export const apiVersionPolicyName = 'gpuvmPinApiVersion';

/** Rewrites api-version to `version` on requests whose path is under /providers/<namespace>/. */
export function pinApiVersionPolicy(namespace = 'Microsoft.Compute', version = COMPUTE_API_VERSION): PipelinePolicy {
  const marker = `/providers/${namespace.toLowerCase()}/`;
  return {
    name: apiVersionPolicyName,
    async sendRequest(request, next) {
      const url = new URL(request.url);
      if (url.pathname.toLowerCase().includes(marker)) {
        url.searchParams.set('api-version', version);
        request.url = url.toString();
      }
      return next(request);
    },
  };
}
