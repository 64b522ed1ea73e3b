import { DeviceBudgets } from './deviceBudget.js';
import { createDeviceClients } from './deviceClients.js';

describe('createDeviceClients', () => {
  it('puts the device budget after the SDK’s retry policy, next to the transport: every attempt, retries included, meets the gate', () => {
    const clients = createDeviceClients(
      { armEndpoint: 'https://management.dev-a.example', loginEndpoint: 'https://login.dev-a.example', subscriptionId: 's', username: 'u', password: 'p' },
      { additionalPolicies: [{ policy: new DeviceBudgets().policy('dev-a'), position: 'perRetry' }] },
    );
    try {
      for (const client of [clients.compute, clients.resources, clients.network]) {
        const names = client.pipeline.getOrderedPolicies().map((p) => p.name);
        expect(names.indexOf('gpuvmDeviceBudget')).toBeGreaterThan(names.indexOf('defaultRetryPolicy'));
        expect(names.indexOf('gpuvmDeviceBudget')).toBeGreaterThan(names.indexOf('bearerTokenAuthenticationPolicy'));
        // Only the body reader, which sends nothing before the HTTP client does, comes after it.
        expect(names.slice(names.indexOf('gpuvmDeviceBudget'))).toEqual(['gpuvmDeviceBudget', 'gpuvmResponseSizeLimit']);
      }
    } finally {
      clients.close();
    }
  });

  it('sends Network requests through the Resources client’s pipeline, with one bearer policy and the device policies once, and no tracing policy', () => {
    const clients = createDeviceClients(
      { armEndpoint: 'https://management.dev-a.example', loginEndpoint: 'https://login.dev-a.example', subscriptionId: 's', username: 'u', password: 'p' },
      { additionalPolicies: [{ policy: new DeviceBudgets().policy('dev-a'), position: 'perRetry' }] },
    );
    try {
      expect(clients.network.pipeline).toBe(clients.resources.pipeline);
      const names = clients.network.pipeline.getOrderedPolicies().map((p) => p.name);
      for (const name of ['bearerTokenAuthenticationPolicy', 'gpuvmDeviceBudget', 'gpuvmResponseSizeLimit']) {
        expect(names.filter((n) => n === name)).toEqual([name]);
      }
      for (const client of [clients.compute, clients.resources]) expect(client.pipeline.getOrderedPolicies().map((p) => p.name)).not.toContain('tracingPolicy');
    } finally {
      clients.close();
    }
  });
});
