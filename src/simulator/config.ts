// Simulator configuration: the YAML the `simulate` command reads and the object tests pass in-process.
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './configError.js';
import type { DeviceProfile, DeviceProfileInput } from './profiles.js';
import { normalizeProfile } from './profiles.js';

export { ConfigError } from './configError.js';

export type OsType = 'Windows' | 'Linux';

export interface ImageConfig {
  name: string;
  /** Resource group the image lives in (default: the device's VM resource group). */
  resourceGroup?: string;
  osType: OsType;
  os?: { name: string; version: string };
  /** Guest OS the GPU extension does not support: the extension fails on VMs made from this image. */
  gpuUnsupported?: boolean;
  /** Gen2 images cannot host GPU VMs. */
  generation?: 'V1' | 'V2';
}

export interface DeviceConfig {
  name: string;
  /** 1 (EdgeP_Base) or 2 (EdgeP_High). */
  gpus: number;
  /** Full software version, e.g. "2.2.2205.5015"; the 4-digit release (here 2205) drives the GPU extension rule. */
  softwareVersion: string;
  subscriptionId: string;
  /** Resource group created at start for VMs, NICs and images. */
  resourceGroup: string;
  images: ImageConfig[];
  /** Kubernetes role already configured at start (it then holds every GPU). */
  kubernetes: boolean;
  /** EdgeArmUser password (generated when absent). */
  password?: string;
  /** Subnet prefix of ASEVNETsubNet. */
  subnetPrefix: string;
  /** What varies between real devices (profiles.ts); absent in input = the `default` profile. */
  profile: DeviceProfile;
}

export interface TimingConfig {
  /** Time a VM creation takes (CreateVM deployment or direct PUT). */
  vmCreateMs: number;
  /** Time a NIC creation takes. */
  nicCreateMs: number;
  /** GPU extension install. */
  extensionMs: number;
  /** start / powerOff / deallocate / restart. */
  powerActionMs: number;
  /** Kubernetes role Creating -> Created and Deleting -> gone. */
  roleMs: number;
  /** Deletions of VMs, NICs and extensions. */
  deleteMs: number;
  /** Retry-After seconds on LRO responses and status URLs while running. */
  retryAfterSeconds: number;
}

export type FaultKind = 'throttle' | 'error500' | 'error503' | 'badRequest' | 'allocationFailed' | 'extensionFailure' | 'provisioningFailed' | 'latency';

export interface FaultRule {
  /** Operation name, e.g. "vm.get", "deployment.put", "vm.create", "extension.install", or "*" for any request. */
  operation: string;
  kind: FaultKind;
  /** Only on this device ("azure" for the Azure side); default every device. */
  device?: string;
  /** Probability 0..1 per matching request (seeded). */
  rate?: number;
  /** Exact sequence over matching requests: true = inject; takes precedence over rate. */
  sequence?: boolean[];
  /** Stop after this many injections. */
  count?: number;
  /** Retry-After seconds for throttle/503 (default 0). */
  retryAfterSeconds?: number;
  /** Added latency for kind latency. */
  latencyMs?: number;
  /** Error code and message of a provisioningFailed fault (default InternalOperationError) or a badRequest one (InvalidParameter). */
  code?: string;
  message?: string;
}

export interface AzureSideConfig {
  subscriptionId: string;
  resourceGroup: string;
  tenantId: string;
  clientId: string;
  clientSecret?: string;
}

export interface SimulatorConfig {
  devices: DeviceConfig[];
  azure: AzureSideConfig;
  timings: TimingConfig;
  faults: FaultRule[];
  seed: number;
  /** A GPU freed by deallocation on a Kubernetes-configured device is claimed by Kubernetes. */
  kubernetesClaimsFreedGpus: boolean;
  /** Reject requests when the per-subscription ARM budget (reads 250/25 s, writes 200/10 s) is exhausted. */
  enforceRateLimits: boolean;
  /** Audit entries kept in memory (oldest dropped first). */
  auditCapacity: number;
  /** Keep each request's JSON body (secrets redacted) in the audit, for contract replay; off by default (memory). */
  auditBodies: boolean;
  /**
   * How long every endpoint keeps an idle connection open (ms). Assumed: no device value is published; the default,
   * 5 s, is Node's own, the short end of common servers, so a client pays for new connections at its worst.
   */
  keepAliveTimeoutMs: number;
}

export type DeviceInput = Partial<Omit<DeviceConfig, 'images' | 'profile'>> & { name: string; images?: Partial<ImageConfig>[]; profile?: DeviceProfileInput };
export interface SimulatorInput {
  devices?: DeviceInput[];
  azure?: Partial<AzureSideConfig>;
  timings?: Partial<TimingConfig>;
  faults?: FaultRule[];
  seed?: number;
  kubernetesClaimsFreedGpus?: boolean;
  enforceRateLimits?: boolean;
  auditCapacity?: number;
  auditBodies?: boolean;
  keepAliveTimeoutMs?: number;
}

export const DEFAULT_TIMINGS: TimingConfig = {
  vmCreateMs: 3000,
  nicCreateMs: 300,
  extensionMs: 2000,
  powerActionMs: 1000,
  roleMs: 3000,
  deleteMs: 500,
  retryAfterSeconds: 1,
};

/** Timings for tests: everything completes on the next tick and clients are told to retry at once. */
export const ZERO_TIMINGS: TimingConfig = {
  vmCreateMs: 0,
  nicCreateMs: 0,
  extensionMs: 0,
  powerActionMs: 0,
  roleMs: 0,
  deleteMs: 0,
  retryAfterSeconds: 0,
};

const DEFAULT_IMAGES: ImageConfig[] = [
  { name: 'ubuntu1804-gen1', osType: 'Linux', os: { name: 'Ubuntu', version: '18.04' } },
  { name: 'windows2019-gen1', osType: 'Windows', os: { name: 'WindowsServer', version: '2019' } },
];

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME = /^[A-Za-z0-9][A-Za-z0-9-_.]{0,62}$/;

function fail(message: string): never {
  throw new ConfigError(message);
}

/** Deterministic GUID from a name, so a config without ids gives stable subscriptions across runs. */
function guidFrom(seedText: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  const hex: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (const ch of `${seedText}#${round}`) {
      h1 = Math.imul(h1 ^ ch.charCodeAt(0), 0x01000193) >>> 0;
      h2 = Math.imul(h2 + ch.charCodeAt(0), 0x5bd1e995) >>> 0;
    }
    hex.push(((h1 ^ h2) >>> 0).toString(16).padStart(8, '0'));
  }
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20, 32)}`;
}

/** The 4-digit release (e.g. 2205) inside a software version such as "2.2.2205.5015". */
export function releaseOf(softwareVersion: string): number {
  const match = /(?:^|\D)(2\d{3})(?:\D|$)/.exec(softwareVersion);
  return match?.[1] !== undefined ? Number(match[1]) : 0;
}

function normalizeImage(input: Partial<ImageConfig>, where: string): ImageConfig {
  if (typeof input.name !== 'string' || !NAME.test(input.name)) fail(`${where}.name: a resource name is required`);
  if (input.osType !== 'Windows' && input.osType !== 'Linux') fail(`${where}.osType: must be Windows or Linux`);
  const image: ImageConfig = { name: input.name, osType: input.osType };
  if (input.resourceGroup !== undefined) image.resourceGroup = input.resourceGroup;
  if (input.os !== undefined) image.os = { name: String(input.os.name), version: String(input.os.version) };
  if (input.gpuUnsupported !== undefined) image.gpuUnsupported = Boolean(input.gpuUnsupported);
  if (input.generation !== undefined) {
    if (input.generation !== 'V1' && input.generation !== 'V2') fail(`${where}.generation: must be V1 or V2`);
    image.generation = input.generation;
  }
  return image;
}

const FAULT_KINDS: FaultKind[] = ['throttle', 'error500', 'error503', 'badRequest', 'allocationFailed', 'extensionFailure', 'provisioningFailed', 'latency'];

export function normalizeFault(rule: FaultRule, where = 'fault'): FaultRule {
  if (typeof rule !== 'object' || rule === null) fail(`${where}: must be an object`);
  if (typeof rule.operation !== 'string' || rule.operation === '') fail(`${where}.operation: required`);
  if (!FAULT_KINDS.includes(rule.kind)) fail(`${where}.kind: one of ${FAULT_KINDS.join(', ')}`);
  if (rule.rate !== undefined && !(rule.rate >= 0 && rule.rate <= 1)) fail(`${where}.rate: between 0 and 1`);
  if (rule.sequence !== undefined && !Array.isArray(rule.sequence)) fail(`${where}.sequence: a list of booleans`);
  return { ...rule, sequence: rule.sequence?.map(Boolean) };
}

/** Fills defaults and validates; throws ConfigError naming the offending field. */
export function normalizeConfig(input: SimulatorInput = {}): SimulatorConfig {
  const devicesIn = input.devices ?? [{ name: 'dev-a', gpus: 2 }, { name: 'dev-b', gpus: 1 }];
  if (!Array.isArray(devicesIn) || devicesIn.length === 0) fail('devices: at least one device is required');
  const seen = new Set<string>();
  const devices = devicesIn.map((d, i): DeviceConfig => {
    const where = `devices[${i}]`;
    if (typeof d.name !== 'string' || !NAME.test(d.name)) fail(`${where}.name: a device name is required`);
    if (seen.has(d.name.toLowerCase())) fail(`${where}.name: duplicate device ${d.name}`);
    seen.add(d.name.toLowerCase());
    const gpus = d.gpus ?? 2;
    if (gpus !== 1 && gpus !== 2) fail(`${where}.gpus: 1 (EdgeP_Base) or 2 (EdgeP_High)`);
    const subscriptionId = d.subscriptionId ?? guidFrom(`device:${d.name}`);
    if (!GUID.test(subscriptionId)) fail(`${where}.subscriptionId: must be a GUID`);
    const resourceGroup = d.resourceGroup ?? 'ASERG-vms';
    const { profile, softwareVersion } = normalizeProfile(d.profile, `${where}.profile`);
    return {
      name: d.name,
      gpus,
      softwareVersion: String(d.softwareVersion ?? softwareVersion),
      subscriptionId,
      resourceGroup,
      images: (d.images ?? DEFAULT_IMAGES).map((img, j) => normalizeImage(img, `${where}.images[${j}]`)),
      kubernetes: Boolean(d.kubernetes ?? false),
      ...(d.password !== undefined ? { password: String(d.password) } : {}),
      subnetPrefix: d.subnetPrefix ?? '10.57.48.0/24',
      profile,
    };
  });
  const timings: TimingConfig = { ...DEFAULT_TIMINGS, ...(input.timings ?? {}) };
  for (const [key, value] of Object.entries(timings)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`timings.${key}: a number >= 0`);
  }
  const azureIn = input.azure ?? {};
  const azure: AzureSideConfig = {
    subscriptionId: azureIn.subscriptionId ?? guidFrom('azure-subscription'),
    resourceGroup: azureIn.resourceGroup ?? 'edge-devices',
    tenantId: azureIn.tenantId ?? guidFrom('azure-tenant'),
    clientId: azureIn.clientId ?? guidFrom('azure-client'),
    ...(azureIn.clientSecret !== undefined ? { clientSecret: azureIn.clientSecret } : {}),
  };
  if (!GUID.test(azure.subscriptionId)) fail('azure.subscriptionId: must be a GUID');
  if (!GUID.test(azure.tenantId)) fail('azure.tenantId: must be a GUID');
  return {
    devices,
    azure,
    timings,
    faults: (input.faults ?? []).map((f, i) => normalizeFault(f, `faults[${i}]`)),
    seed: input.seed ?? 1,
    kubernetesClaimsFreedGpus: input.kubernetesClaimsFreedGpus ?? true,
    enforceRateLimits: input.enforceRateLimits ?? false,
    auditCapacity: input.auditCapacity ?? 50_000,
    auditBodies: input.auditBodies ?? false,
    keepAliveTimeoutMs: positiveMs(input.keepAliveTimeoutMs, 'keepAliveTimeoutMs', DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
  };
}

/** How long an idle connection stays open when the config names no keepAliveTimeoutMs (assumed; see the field). */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5000;

function positiveMs(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(`${field}: a number of milliseconds > 0`);
  return value;
}

/** Parses the YAML config file of `gpuvm-controller simulate`. */
export function parseConfigYaml(text: string): SimulatorConfig {
  const doc: unknown = parseYaml(text);
  if (doc === null || doc === undefined) return normalizeConfig({});
  if (typeof doc !== 'object' || Array.isArray(doc)) fail('config: a mapping is expected at the top level');
  return normalizeConfig(doc as SimulatorInput);
}
