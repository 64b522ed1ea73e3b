// A raw HTTPS client for protocol-level tests (status codes, headers, bodies exactly as sent).
import { Agent, request as httpsRequest } from 'node:https';
import type { Simulator } from '../../src/simulator/index.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

export class RawClient {
  private readonly agent: Agent;

  constructor(ca: string, maxSockets = 8) {
    this.agent = new Agent({ ca, keepAlive: true, maxSockets });
  }

  close(): void {
    this.agent.destroy();
  }

  request(url: string, method: string, options: { token?: string; body?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.token !== undefined) headers['Authorization'] = `Bearer ${options.token}`;
      if (options.body !== undefined) {
        headers['Content-Type'] ??= 'application/json';
        headers['Content-Length'] = String(Buffer.byteLength(options.body));
      }
      const req = httpsRequest(url, { method, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (options.body !== undefined) req.write(options.body);
      req.end();
    });
  }

  /** EdgeArmUser token from the device's ADFS token endpoint (MSAL's scope form, or ADAL's resource form). */
  async deviceToken(sim: Simulator, device: string, form: 'scope' | 'resource' = 'scope'): Promise<string> {
    const res = await this.deviceTokenRequest(sim, device, form === 'scope' ? { scope: `${sim.device(device).armEndpoint}/.default` } : { resource: `${sim.device(device).armEndpoint}/` });
    return (res.json as { access_token: string }).access_token;
  }

  /** A password-grant token request to the device's ADFS with the given audience fields (and password). */
  deviceTokenRequest(sim: Simulator, device: string, fields: Record<string, string>): Promise<RawResponse> {
    const d = sim.device(device);
    const form = new URLSearchParams({ grant_type: 'password', username: d.username, password: d.password, client_id: d.clientId, ...fields });
    return this.request(`${d.loginEndpoint}/adfs/oauth2/token`, 'POST', { body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  }

  async azureToken(sim: Simulator): Promise<string> {
    const a = sim.endpoints().azure;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: a.clientId, client_secret: a.clientSecret, scope: `${a.endpoint}/.default` });
    const res = await this.request(`${a.authorityHost}/${a.tenantId}/oauth2/v2.0/token`, 'POST', { body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    return (res.json as { access_token: string }).access_token;
  }
}

export const errorCode = (res: RawResponse): string | undefined => (res.json as { error?: { code?: string } } | undefined)?.error?.code;
