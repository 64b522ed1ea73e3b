// The SDK packages hard-code their own api-versions (@azure/arm-compute 25 sends a 2026 one; the hybrid
// Resources and Network packages send 2019-10-01 and 2018-11-01). One policy per device rewrites the
// api-version of every Compute, Network and Resources request to the negotiated one — LRO polls and next-page
// links included — and negotiates again once when the device refuses the version it was sent.
import type { PipelinePolicy, PipelineRequest } from '@azure/core-rest-pipeline';
import type { ApiVersionKind } from './apiVersions.js';
import { type ApiVersionNegotiator, VERSION_REFUSAL_CODES, errorCodeOf } from './apiVersionNegotiator.js';

export const apiVersionPolicyName = 'gpuvmDeviceApiVersion';

/**
 * Which negotiated version a device ARM path takes; undefined = leave the request alone (Providers_Get, which
 * the negotiation itself sends, subscriptions, other namespaces).
 */
export function apiVersionKindOf(pathname: string): ApiVersionKind | undefined {
  const path = pathname.toLowerCase();
  const provider = /\/providers\/([^/]+)(\/[^?]*)?$/.exec(path);
  if (provider === null) return /^\/subscriptions\/[^/]+\/resourcegroups(\/|$)/.test(path) ? 'resources' : undefined;
  // Providers_Get and the provider list are the negotiation's own reads.
  if (/^\/subscriptions\/[^/]+\/providers(\/[^/]+)?$/.test(path)) return undefined;
  const [, namespace = '', rest = ''] = provider;
  switch (namespace) {
    case 'microsoft.compute':
      // Disk operations (and their operation status, ARM's DiskOperations) follow the disks api.
      return /^\/(disks(\/|$)|locations\/[^/]+\/diskoperations\/)/.test(rest) ? 'disks' : 'compute';
    case 'microsoft.network':
      return 'network';
    case 'microsoft.resources':
      return 'resources';
    default:
      return undefined;
  }
}

function setApiVersion(request: PipelineRequest, version: string): void {
  const url = new URL(request.url);
  url.searchParams.set('api-version', version);
  request.url = url.toString();
}

export function deviceApiVersionPolicy(negotiator: ApiVersionNegotiator): PipelinePolicy {
  return {
    name: apiVersionPolicyName,
    async sendRequest(request, next) {
      const kind = apiVersionKindOf(new URL(request.url).pathname);
      if (kind === undefined) return next(request);
      const versions = await negotiator.get();
      setApiVersion(request, versions[kind]);
      const response = await next(request);
      if (response.status !== 400) return response;
      let code: string | undefined;
      try {
        code = errorCodeOf(JSON.parse(response.bodyAsText ?? ''));
      } catch {
        code = undefined;
      }
      if (code === undefined || !VERSION_REFUSAL_CODES.has(code)) return response;
      const renewed = await negotiator.renegotiate(versions);
      if (renewed[kind] === versions[kind]) return response;
      setApiVersion(request, renewed[kind]);
      return next(request);
    },
  };
}
