// The simulator: HTTPS servers on loopback (one per device, one for the Azure side) with a generated
// CA, the request pipeline (auth, api-version, faults, audit, invariants) and the in-process API.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createCertificateAuthority } from '../tls/certificateAuthority.js';
import { ADMIN_PREFIX, handleAdmin } from './admin.js';
import { ArmError, toArmError } from './arm/errors.js';
import { OperationRegistry } from './arm/lro.js';
import type { AuditEntry, Violation } from './audit.js';
import { AuditLog } from './audit.js';
import { instanceDiscovery, openIdConfiguration, tokenEndpoint } from './auth/identity.js';
import { TokenIssuer } from './auth/token.js';
import type { AzureSide } from './azureSide.js';
import { deviceResourceId, routeAzure } from './azureSide.js';
import { Clock } from './clock.js';
import type { FaultRule, SimulatorConfig, SimulatorInput, TimingConfig } from './config.js';
import { normalizeConfig } from './config.js';
import type { SimContext } from './device.js';
import { ARM_USERNAME, DEVICE_CLIENT_ID, DEVICE_TENANT_ID, DeviceState, isGpuSize } from './device.js';
import { deploymentsOf } from './arm/deployments.js';
import { FaultInjector } from './faults.js';
import type { LroTarget, SimRequest, SimResponse } from './http.js';
import { RateLimiter } from './rateLimit.js';
import { redactBody } from './bodyRedaction.js';
import { enforcePutBody } from './contracts/requestBodies.js';
import type { DeviceProfile } from './profiles.js';
import type { Route } from './router.js';
import { routeDevice } from './router.js';

export interface DeviceEndpoints {
  name: string;
  /** The device's local ARM, e.g. https://127.0.0.1:41001 */
  armEndpoint: string;
  /** ADFS authority host (authority = loginEndpoint + "/adfs"); same origin as the ARM here. */
  loginEndpoint: string;
  authority: string;
  /** Tenant to give @azure/identity for the device ("adfs"). */
  tenantId: 'adfs';
  /** The device's fixed tenant id (token claims). */
  deviceTenantId: string;
  /** Public client id of the device's ARM (used with the password grant). */
  clientId: string;
  subscriptionId: string;
  resourceGroup: string;
  username: string;
  password: string;
  /** A service principal for the client-credentials grant on the device authority. */
  servicePrincipal: { clientId: string; clientSecret: string };
  /** The device's resource id on the Azure side. */
  azureResourceId: string;
  gpus: number;
  softwareVersion: string;
  /** What varies between real devices (see profiles.ts). */
  profile: DeviceProfile;
}

export interface AzureEndpoints {
  /** Azure Resource Manager stand-in. */
  endpoint: string;
  /** Entra-style authority host (authority = authorityHost + "/" + tenantId). */
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  subscriptionId: string;
  resourceGroup: string;
}

export interface SimulatorEndpoints {
  devices: DeviceEndpoints[];
  azure: AzureEndpoints;
  caPem: string;
  caPath?: string;
  credentialsPath?: string;
  /** Base URL of the admin API (any of the servers answers it). */
  adminUrl: string;
}

export interface SimulatorOptions {
  /** First port: the Azure side listens on it, device i on port + 1 + i. 0 (default) = ephemeral ports. */
  port?: number;
  /** Directory for ca.pem and credentials.json (not written when absent). */
  stateDir?: string;
  /** Generate a new CA even if this process already has one (default: reuse). */
  freshCertificates?: boolean;
}

export interface DeviceStateView {
  name: string;
  gpus: { total: number; free: number; kubernetes: number; holders: ({ kind: 'vm'; vm: string } | { kind: 'kubernetes' } | null)[] };
  /** The first compute role (of any kind, listed or not). */
  kubernetes: { role: string; provisioningState: string } | null;
  /** Every compute role; `listed: false` = not shown on the Azure side (profile computeRole `none`). */
  roles: { name: string; kind: string; provisioningState: string; listed: boolean }[];
  /** Managed disks (names), every resource group. */
  disks: string[];
  vms: { name: string; resourceGroup: string; size: string; provisioningState: string; powerState: string; holdsGpu: boolean; gpuTakenOver: boolean; osDisk: string | null; extensions: { name: string; type: string; provisioningState: string }[] }[];
  nics: { name: string; resourceGroup: string; privateIPAddress: string; attachedVm: string | null }[];
  deployments: { name: string; resourceGroup: string; provisioningState: string }[];
}

type ServerKind = { kind: 'azure' } | { kind: 'device'; device: DeviceState };

const MAX_BODY = 4 * 1024 * 1024;
const API_VERSION_FORMAT = /^\d{4}-\d{2}-\d{2}(-preview|-beta|-alpha|-privatepreview)?$/i;

let cachedCertificates: { caPem: string; leaf: { certificatePem: string; privateKeyPem: string } } | undefined;

/**
 * The CA and the loopback server certificate. Generated at the first start in a process and reused by
 * later simulators of the same process (key generation and signing take seconds under test runners).
 */
function loopbackCertificates(fresh: boolean): { caPem: string; leaf: { certificatePem: string; privateKeyPem: string } } {
  if (cachedCertificates === undefined || fresh) {
    const ca = createCertificateAuthority('gpuvm-controller simulator root CA');
    cachedCertificates = { caPem: ca.certificatePem, leaf: ca.issueServerCertificate(['localhost'], ['127.0.0.1']) };
  }
  return cachedCertificates;
}

export class Simulator {
  readonly config: SimulatorConfig;
  readonly faults: FaultInjector;
  private readonly clock = new Clock();
  private readonly auditLog: AuditLog;
  private readonly operations = new OperationRegistry();
  private readonly tokens = new TokenIssuer();
  private readonly rateLimiter = new RateLimiter();
  private currentTimings: TimingConfig;
  private readonly deviceStates: DeviceState[];
  private readonly servers: { server: Server; kind: ServerKind; origin: string }[] = [];
  private readonly azureSecret: string;
  private readonly servicePrincipals = new Map<string, { clientId: string; clientSecret: string }>();
  private azureSide: AzureSide;
  private caPem = '';
  private leaf: { certificatePem: string; privateKeyPem: string } | undefined;
  private caPath: string | undefined;
  private credentialsPath: string | undefined;
  private stopped = false;

  private constructor(config: SimulatorConfig) {
    this.config = config;
    this.currentTimings = { ...config.timings };
    this.faults = new FaultInjector(config.faults, config.seed);
    this.auditLog = new AuditLog(config.auditCapacity);
    const ctx: SimContext = {
      config,
      clock: this.clock,
      faults: this.faults,
      audit: this.auditLog,
      operations: this.operations,
      timings: () => this.currentTimings,
    };
    this.deviceStates = config.devices.map((d) => new DeviceState(d, d.password ?? randomBytes(12).toString('base64url'), ctx));
    for (const d of this.deviceStates) this.servicePrincipals.set(d.name, { clientId: randomUUID(), clientSecret: randomBytes(18).toString('base64url') });
    this.azureSecret = config.azure.clientSecret ?? randomBytes(18).toString('base64url');
    this.azureSide = {
      config: config.azure,
      devices: this.deviceStates,
      operations: this.operations,
      retryAfterSeconds: () => this.currentTimings.retryAfterSeconds,
    };
  }

  /** Starts a simulator: generates its CA, listens on loopback and (with stateDir) writes ca.pem and credentials.json. */
  static async start(input: SimulatorInput | SimulatorConfig = {}, options: SimulatorOptions = {}): Promise<Simulator> {
    // normalizeConfig is idempotent: a parsed YAML config goes through it again unchanged.
    const config = normalizeConfig(input as SimulatorInput);
    const sim = new Simulator(config);
    await sim.listen(options);
    return sim;
  }

  private async listen(options: SimulatorOptions): Promise<void> {
    const { caPem, leaf } = loopbackCertificates(options.freshCertificates === true);
    this.caPem = caPem;
    this.leaf = leaf;
    const kinds: ServerKind[] = [{ kind: 'azure' }, ...this.deviceStates.map((device) => ({ kind: 'device' as const, device }))];
    const basePort = options.port ?? 0;
    try {
      for (const [i, kind] of kinds.entries()) {
        const server = createServer({ key: leaf.privateKeyPem, cert: leaf.certificatePem, keepAliveTimeout: this.config.keepAliveTimeoutMs }, (req, res) => {
          void this.onRequest(kind, origin, req, res);
        });
        server.on('tlsClientError', () => undefined);
        server.on('clientError', (_err, socket) => socket.destroy());
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(basePort === 0 ? 0 : basePort + i, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
          });
        });
        const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
        this.servers.push({ server, kind, origin });
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
    if (options.stateDir !== undefined) {
      await mkdir(options.stateDir, { recursive: true });
      this.caPath = join(options.stateDir, 'ca.pem');
      this.credentialsPath = join(options.stateDir, 'credentials.json');
      await writeFile(this.caPath, this.caPem, { mode: 0o644 });
      const { caPem: _omit, ...rest } = this.endpoints();
      await writeFile(this.credentialsPath, JSON.stringify(rest, null, 2) + '\n', { mode: 0o600 });
    }
  }

  private originOf(kind: 'azure' | DeviceState): string {
    const entry = this.servers.find((s) => (kind === 'azure' ? s.kind.kind === 'azure' : s.kind.kind === 'device' && s.kind.device === kind));
    return entry?.origin ?? '';
  }

  /** Endpoints and credentials of every device and of the Azure side. */
  endpoints(): SimulatorEndpoints {
    const azureOrigin = this.originOf('azure');
    return {
      devices: this.deviceStates.map((d) => this.deviceEndpoints(d)),
      azure: {
        endpoint: azureOrigin,
        authorityHost: azureOrigin,
        tenantId: this.config.azure.tenantId,
        clientId: this.config.azure.clientId,
        clientSecret: this.azureSecret,
        subscriptionId: this.config.azure.subscriptionId,
        resourceGroup: this.config.azure.resourceGroup,
      },
      caPem: this.caPem,
      ...(this.caPath !== undefined ? { caPath: this.caPath } : {}),
      ...(this.credentialsPath !== undefined ? { credentialsPath: this.credentialsPath } : {}),
      adminUrl: `${azureOrigin}/${ADMIN_PREFIX}`,
    };
  }

  private deviceEndpoints(d: DeviceState): DeviceEndpoints {
    const origin = this.originOf(d);
    const sp = this.servicePrincipals.get(d.name) ?? { clientId: '', clientSecret: '' };
    return {
      name: d.name,
      armEndpoint: origin,
      loginEndpoint: origin,
      authority: `${origin}/adfs`,
      tenantId: 'adfs',
      deviceTenantId: DEVICE_TENANT_ID,
      clientId: DEVICE_CLIENT_ID,
      subscriptionId: d.subscriptionId,
      resourceGroup: d.config.resourceGroup,
      username: ARM_USERNAME,
      password: d.password,
      servicePrincipal: { ...sp },
      azureResourceId: deviceResourceId(this.config.azure, d.name),
      gpus: d.config.gpus,
      softwareVersion: d.config.softwareVersion,
      profile: { ...d.config.profile },
    };
  }

  /** Endpoints of one device by name. */
  device(name: string): DeviceEndpoints {
    const d = this.deviceStates.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (d === undefined) throw new Error(`no simulated device named ${name}`);
    return this.deviceEndpoints(d);
  }

  /** The certificate (and key) the simulator serves for 127.0.0.1, so a test server can stand in for a device under the same CA. */
  get loopbackCertificate(): { certificatePem: string; privateKeyPem: string } {
    if (this.leaf === undefined) throw new Error('the simulator is not listening');
    return this.leaf;
  }

  get caCertificatePem(): string {
    return this.caPem;
  }

  audit(filter: { since?: number; device?: string } = {}): AuditEntry[] {
    return this.auditLog.list(filter);
  }

  clearAudit(): void {
    this.auditLog.clear();
  }

  violations(): Violation[] {
    return this.auditLog.violations();
  }

  timings(): TimingConfig {
    return { ...this.currentTimings };
  }

  setTimings(partial: Partial<TimingConfig>): TimingConfig {
    const next = { ...this.currentTimings };
    for (const [k, v] of Object.entries(partial)) {
      if (!(k in next)) throw new Error(`unknown timing ${k}`);
      if (typeof v !== 'number' || !(v >= 0)) throw new Error(`timings.${k}: a number >= 0`);
      (next as Record<string, number>)[k] = v;
    }
    this.currentTimings = next;
    return this.timings();
  }

  addFault(rule: FaultRule): void {
    this.faults.add(rule);
  }

  /** Live state of every device (or one). */
  state(): { devices: DeviceStateView[] } {
    return { devices: this.deviceStates.map((d) => this.deviceView(d)) };
  }

  deviceState(name: string): DeviceStateView {
    const d = this.deviceStates.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (d === undefined) throw new Error(`no simulated device named ${name}`);
    return this.deviceView(d);
  }

  private deviceView(d: DeviceState): DeviceStateView {
    const firstRole = [...d.roles.values()][0];
    return {
      name: d.name,
      gpus: {
        total: d.config.gpus,
        free: d.ledger.free(),
        kubernetes: d.ledger.kubernetesCount(),
        holders: d.ledger.snapshot().map((h) => (h === null ? null : h.kind === 'vm' ? { kind: 'vm' as const, vm: h.name } : { kind: 'kubernetes' as const })),
      },
      kubernetes: firstRole === undefined ? null : { role: firstRole.name, provisioningState: firstRole.provisioningState },
      roles: [...d.roles.values()].map((r) => ({ name: r.name, kind: r.kind, provisioningState: r.provisioningState, listed: r.hidden !== true })),
      disks: [...d.disks.values()].map((disk) => disk.name),
      vms: [...d.vms.values()].map((vm) => ({
        name: vm.name,
        resourceGroup: vm.resourceGroup,
        size: vm.size,
        provisioningState: vm.provisioningState,
        powerState: vm.power,
        holdsGpu: isGpuSize(vm.size) && d.ledger.holdsVm(d.vmId(vm)),
        gpuTakenOver: vm.gpuTakenOver === true,
        osDisk: vm.osDiskName ?? null,
        extensions: [...vm.extensions.values()].map((e) => ({ name: e.name, type: e.type, provisioningState: e.provisioningState })),
      })),
      nics: [...d.nics.values()].map((n) => ({ name: n.name, resourceGroup: n.resourceGroup, privateIPAddress: n.privateIPAddress, attachedVm: n.attachedVmId ?? null })),
      deployments: [...deploymentsOf(d).records.values()].map((x) => ({ name: x.name, resourceGroup: x.resourceGroup, provisioningState: x.state })),
    };
  }

  /** Stops every server and pending timer. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.stop();
    await Promise.all(
      this.servers.map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  }

  // ---------------- request pipeline ----------------

  private async onRequest(kind: ServerKind, origin: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = randomUUID();
    const deviceName = kind.kind === 'azure' ? 'azure' : kind.device.name;
    let path = '/';
    let apiVersion: string | null = null;
    let operation = 'unknown';
    let faultName: string | undefined;
    let response: SimResponse;
    let rawBody = '';
    try {
      const url = new URL(req.url ?? '/', origin);
      path = url.pathname;
      apiVersion = url.searchParams.get('api-version');
      rawBody = await readBody(req);
      let segments: string[];
      try {
        segments = url.pathname.split('/').filter((x) => x !== '').map((x) => decodeURIComponent(x));
      } catch {
        throw new ArmError(400, 'InvalidRequestUri', 'The request URI is not valid (bad percent-encoding).');
      }
      const simReq: SimRequest = { method: (req.method ?? 'GET').toUpperCase(), path, segments, query: url.searchParams, headers: req.headers, rawBody, origin, requestId, apiVersion };
      if (segments[0] === ADMIN_PREFIX) {
        operation = 'admin';
        response = handleAdmin(this, simReq);
      } else {
        const identity = this.identityRoute(kind, simReq);
        if (identity !== undefined) {
          operation = identity.operation;
          response = await this.withFaults(identity, deviceName, () => identity.run());
          if (identity.operation.startsWith('token')) faultName = undefined;
        } else {
          const route =
            kind.kind === 'azure'
              ? routeAzure(this.azureSide, simReq, this.lroTarget(origin, this.config.azure.subscriptionId, 'Microsoft.DataBoxEdge', apiVersion, undefined))
              : routeDevice(kind.device, simReq, (ns) => this.lroTarget(origin, kind.device.subscriptionId, ns, apiVersion, kind.device));
          operation = route.operation;
          response = await this.runArm(kind, deviceName, simReq, route, (f) => (faultName = f));
        }
      }
    } catch (e) {
      const err = toArmError(e);
      response = { status: err.status, headers: err.headers, body: { error: err.body() } };
    }
    if (kind.kind === 'device') kind.device.checkInvariants(this.auditLog);
    else this.checkAllInvariants();
    const headers: Record<string, string> = { 'x-ms-request-id': requestId, 'x-ms-correlation-request-id': requestId, ...(response.headers ?? {}) };
    const body = response.body === undefined ? '' : JSON.stringify(response.body);
    if (body !== '') headers['Content-Type'] = 'application/json; charset=utf-8';
    headers['Content-Length'] = String(Buffer.byteLength(body));
    try {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(response.status, headers);
        res.end(req.method === 'HEAD' ? undefined : body);
      }
    } catch {
      res.destroy();
    }
    const errorCode = isErrorBody(response.body) ? response.body.error.code : undefined;
    this.auditLog.record({
      device: deviceName,
      method: req.method ?? 'GET',
      path,
      apiVersion,
      operation,
      status: response.status,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      requestId,
      ...(typeof req.headers['user-agent'] === 'string' ? { userAgent: req.headers['user-agent'] } : {}),
      ...(errorCode !== undefined ? { errorCode } : {}),
      ...(faultName !== undefined ? { fault: faultName } : {}),
      ...(this.config.auditBodies ? auditedBody(operation, rawBody) : {}),
    });
  }

  /**
   * A device's operations change that device only, so only its invariants are checked when one settles (checking
   * every device there made a 5,000-device fleet quadratic); the Azure side's may change any device.
   */
  private lroTarget(origin: string, subscriptionId: string, namespace: string, apiVersion: string | null, device: DeviceState | undefined): LroTarget {
    const settled = device === undefined ? () => this.checkAllInvariants() : () => device.checkInvariants(this.auditLog);
    return { operations: this.operations, retryAfterSeconds: this.currentTimings.retryAfterSeconds, origin, subscriptionId, namespace, apiVersion: apiVersion ?? '', settled };
  }

  private checkAllInvariants(): void {
    for (const device of this.deviceStates) device.checkInvariants(this.auditLog);
  }

  private identityRoute(kind: ServerKind, req: SimRequest): Route | undefined {
    const l = req.segments.map((s) => s.toLowerCase());
    if (kind.kind === 'device') {
      if (l[0] !== 'adfs') return undefined;
      const authority = `${req.origin}/adfs`;
      const device = kind.device;
      const sp = this.servicePrincipals.get(device.name) ?? { clientId: '', clientSecret: '' };
      if (l[1] === '.well-known' && l[2] === 'openid-configuration') return { operation: 'identity.discovery', apiVersions: null, auth: false, run: () => openIdConfiguration(authority) };
      if (l[1] === 'oauth2' && l[2] === 'token') {
        return {
          operation: 'token',
          apiVersions: null,
          auth: false,
          run: () => tokenEndpoint(req, this.tokens, authority, { target: device.name, tenantId: DEVICE_TENANT_ID, username: ARM_USERNAME, password: device.password, clientId: sp.clientId, clientSecret: sp.clientSecret, audience: { origin: req.origin, forms: device.config.profile.tokenAudience } }),
        };
      }
      if (l[1] === 'discovery' && l[2] === 'keys') return { operation: 'identity.keys', apiVersions: null, auth: false, run: () => ({ status: 200, body: { keys: [] } }) };
      return { operation: 'identity.unknown', apiVersions: null, auth: false, run: () => ({ status: 404, body: { error: 'not_found', error_description: 'Unknown ADFS path.' } }) };
    }
    if (l[0] === 'common' && l[1] === 'discovery' && l[2] === 'instance') return { operation: 'identity.instance', apiVersions: null, auth: false, run: () => instanceDiscovery(req.origin) };
    if (l[0] === undefined || l[0] === 'subscriptions' || l[0] === ADMIN_PREFIX) return undefined;
    const tenant = l[0];
    const authority = `${req.origin}/${req.segments[0] ?? ''}`;
    const tenantOk = tenant === this.config.azure.tenantId.toLowerCase() || tenant === 'organizations' || tenant === 'common';
    const rest = l.slice(1).join('/');
    if (rest === 'v2.0/.well-known/openid-configuration' || rest === '.well-known/openid-configuration') {
      return { operation: 'identity.discovery', apiVersions: null, auth: false, run: () => (tenantOk ? rewriteEntra(openIdConfiguration(authority), authority) : { status: 400, body: { error: 'invalid_tenant', error_description: `Tenant '${tenant}' not found.` } }) };
    }
    if (rest === 'oauth2/v2.0/token' || rest === 'oauth2/token') {
      return {
        operation: 'token',
        apiVersions: null,
        auth: false,
        run: () => (tenantOk ? tokenEndpoint(req, this.tokens, `${authority}/v2.0`, { target: 'azure', tenantId: this.config.azure.tenantId, clientId: this.config.azure.clientId, clientSecret: this.azureSecret }) : { status: 400, body: { error: 'invalid_tenant', error_description: `Tenant '${tenant}' not found.` } }),
      };
    }
    if (rest === 'discovery/v2.0/keys' || rest === 'discovery/keys') return { operation: 'identity.keys', apiVersions: null, auth: false, run: () => ({ status: 200, body: { keys: [] } }) };
    return undefined;
  }

  private async withFaults(route: Route, device: string | string[], run: () => SimResponse | Promise<SimResponse>, onFault?: (name: string) => void): Promise<SimResponse> {
    const fired = this.faults.take(route.operation, device, ['latency', 'throttle', 'error500', 'error503', 'badRequest']);
    for (const f of fired) {
      if (f.kind === 'latency') await this.clock.delay(f.rule.latencyMs ?? 100);
    }
    const failing = fired.find((f) => f.kind !== 'latency');
    if (failing !== undefined) {
      onFault?.(failing.kind);
      const retryAfter = String(failing.rule.retryAfterSeconds ?? 0);
      if (failing.kind === 'throttle') {
        return { status: 429, headers: { 'Retry-After': retryAfter }, body: { error: { code: 'TooManyRequests', message: 'The request is being throttled (injected fault). Retry after the time in the Retry-After header.' } } };
      }
      if (failing.kind === 'badRequest') {
        // A synchronous refusal of the request itself (ARM validates a PUT before accepting it): not retried by clients.
        return { status: 400, body: { error: { code: failing.rule.code ?? 'InvalidParameter', message: failing.rule.message ?? 'The request is invalid (injected fault).' } } };
      }
      if (failing.kind === 'error503') {
        return { status: 503, headers: { 'Retry-After': retryAfter }, body: { error: { code: 'ServiceUnavailable', message: 'The service is temporarily unavailable (injected fault).' } } };
      }
      return { status: 500, body: { error: { code: 'InternalServerError', message: 'The server encountered an internal error (injected fault).' } } };
    }
    if (fired.length > 0) onFault?.('latency');
    return run();
  }

  private async runArm(kind: ServerKind, deviceName: string, req: SimRequest, route: Route, onFault: (name: string) => void): Promise<SimResponse> {
    const target = kind.kind === 'azure' ? 'azure' : kind.device.name;
    const authorizationUri = kind.kind === 'azure' ? `${req.origin}/${this.config.azure.tenantId}` : `${req.origin}/adfs`;
    if (route.auth) {
      const header = req.headers.authorization;
      if (header === undefined || !/^Bearer\s+\S+$/i.test(header)) {
        throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", undefined, undefined, { 'WWW-Authenticate': `Bearer authorization_uri="${authorizationUri}", error="invalid_token"` });
      }
      const verified = this.tokens.verify(header.replace(/^Bearer\s+/i, ''), target);
      if ('reason' in verified) {
        throw new ArmError(401, 'InvalidAuthenticationToken', `The access token is invalid. ${verified.reason}`, undefined, undefined, { 'WWW-Authenticate': `Bearer authorization_uri="${authorizationUri}", error="invalid_token", error_description="${verified.reason}"` });
      }
      // The device ARM accepts only tokens issued for its own audience (the ADFS resource it is known by).
      if (kind.kind === 'device' && verified.claims.aud !== `${req.origin}/`) {
        throw new ArmError(401, 'InvalidAuthenticationTokenAudience', `The access token has been obtained for the wrong audience or resource '${verified.claims.aud}'. It should exactly match one of the allowed audiences '${req.origin}/'.`, undefined, undefined, { 'WWW-Authenticate': `Bearer authorization_uri="${authorizationUri}", error="invalid_token"` });
      }
    }
    const isRead = req.method === 'GET' || req.method === 'HEAD';
    const subscription = kind.kind === 'azure' ? this.config.azure.subscriptionId : kind.device.subscriptionId;
    const budget = this.rateLimiter.take(subscription, isRead ? 'reads' : 'writes');
    const budgetHeader = { [isRead ? 'x-ms-ratelimit-remaining-subscription-reads' : 'x-ms-ratelimit-remaining-subscription-writes']: String(Math.max(0, budget.remaining)) };
    if (this.config.enforceRateLimits && budget.remaining < 0) {
      return { status: 429, headers: { ...budgetHeader, 'Retry-After': String(budget.retryAfterSeconds) }, body: { error: { code: 'TooManyRequests', message: `Number of ${isRead ? 'read' : 'write'} requests for subscription '${subscription}' exceeded the limit. Retry after ${budget.retryAfterSeconds} seconds.` } } };
    }
    if (route.apiVersions !== null) {
      if (req.apiVersion === null || req.apiVersion === '') {
        throw new ArmError(400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");
      }
      // ARM's wording for its own endpoints and for a value that is no api-version at all (issues
      // Azure/azure-cli#28038, Azure/azure-sdk-for-python#975 quote it): InvalidApiVersionParameter.
      if (!route.apiVersions.includes(req.apiVersion) && (route.armNative === true || !API_VERSION_FORMAT.test(req.apiVersion))) {
        throw new ArmError(400, 'InvalidApiVersionParameter', `The api-version '${req.apiVersion}' is invalid. The supported versions are '${route.apiVersions.join(',')}'.`);
      }
      if (!route.apiVersions.includes(req.apiVersion)) {
        throw new ArmError(
          400,
          'NoRegisteredProviderFound',
          `No registered resource provider found for location 'dbelocal' and API version '${req.apiVersion}' for type '${route.typeName ?? 'unknown'}'. The supported api-versions are '${route.apiVersions.join(', ')}'. The supported locations are 'dbelocal'.`,
        );
      }
    }
    try {
      // Azure-side requests about a device match fault rules for "azure" and for that device.
      const targets = kind.kind === 'azure' && req.segments[7] !== undefined ? [deviceName, req.segments[7]] : deviceName;
      // The request body must match the published contract of its resource type (src/simulator/contracts).
      const run = (): SimResponse | Promise<SimResponse> => (enforcePutBody(req.method, req.segments, req.apiVersion, req.rawBody), route.run());
      const response = await this.withFaults(route, targets, run, onFault);
      return { ...response, headers: { ...budgetHeader, ...(response.headers ?? {}) } };
    } catch (e) {
      const err = toArmError(e);
      return { status: err.status, headers: { ...budgetHeader, ...err.headers }, body: { error: err.body() } };
    }
  }
}

function rewriteEntra(response: SimResponse, authority: string): SimResponse {
  const body = response.body as Record<string, unknown>;
  return {
    status: 200,
    body: {
      ...body,
      issuer: `${authority}/v2.0`,
      authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
      token_endpoint: `${authority}/oauth2/v2.0/token`,
      jwks_uri: `${authority}/discovery/v2.0/keys`,
      end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
    },
  };
}

/** An ARM request's JSON body, redacted (identity and admin requests carry credentials or nothing of interest). */
function auditedBody(operation: string, rawBody: string): { body?: unknown } {
  if (rawBody.trim() === '' || /^(token|identity|admin)/.test(operation)) return {};
  try {
    return { body: redactBody(JSON.parse(rawBody)) };
  } catch {
    return {};
  }
}

function isErrorBody(body: unknown): body is { error: { code: string } } {
  return typeof body === 'object' && body !== null && 'error' in body && typeof (body as { error: unknown }).error === 'object' && (body as { error: { code?: unknown } }).error !== null && typeof (body as { error: { code?: unknown } }).error.code === 'string';
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new ArmError(413, 'RequestEntityTooLarge', `The request body exceeds ${MAX_BODY} bytes.`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts a simulator (see Simulator.start). */
export function startSimulator(input: SimulatorInput = {}, options: SimulatorOptions = {}): Promise<Simulator> {
  return Simulator.start(input, options);
}
