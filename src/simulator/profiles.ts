// Device profiles: what varies between real Azure Stack Edge devices (software release, api-versions, token
// forms, how compute shows on the Azure side, GPU-exhaustion errors, managed-disk lifetime), as built-ins
// and overrides. Each field's source or "assumed" is in the README's behaviour table.
import type { ApiVersionSetName } from './apiVersions.js';
import { API_VERSION_SET_NAMES } from './apiVersions.js';
import { ConfigError } from './configError.js';

export type { ApiVersionSetName } from './apiVersions.js';

export type TokenAudience = 'resource' | 'resource-or-scope';
export type ComputeRoleKind = 'Kubernetes' | 'IOT' | 'none';
export type GpuExhaustion = 'AllocationFailed' | 'OtherCode' | 'BareDeploymentFailed';

export interface DeviceProfile {
  /** Built-in name, or 'custom'. */
  name: string;
  /** Which api-versions the device's local ARM accepts. */
  apiVersions: ApiVersionSetName;
  /** ADFS token request forms accepted. */
  tokenAudience: TokenAudience;
  /** How compute/Kubernetes shows on the Azure side (role kind, or no role at all). */
  computeRole: ComputeRoleKind;
  /** Kubernetes takes a stopped GPU VM's GPU after this long (null = never). */
  stoppedGpuTakeoverMs: number | null;
  /** How "no GPU free" fails a CreateVM (and the start of a VM that lost its GPU). */
  gpuExhaustion: GpuExhaustion;
  /** A VM's managed OS disk outlives the VM (ARM managed-disk semantics). */
  osDiskSurvivesVmDelete: boolean;
}

/** `profile:` of a device in YAML / SimulatorInput: a built-in name or {base?, ...overrides}. */
export type DeviceProfileInput = string | (Partial<DeviceProfile> & { base?: string });

interface BuiltIn {
  profile: DeviceProfile;
  /** Software version a device of this profile reports when its config names none. */
  softwareVersion: string;
}

// The release numbers inside the versions drive the GPU extension rule (releaseOf in config.ts).
const TAKEOVER_RELEASES_MS = 30 * 60_000; // known issue 2103–2205; the delay is not published (assumed)

const builtIn = (name: string, softwareVersion: string, fields: Omit<DeviceProfile, 'name'>): BuiltIn => ({ profile: { name, ...fields }, softwareVersion });

// Today's release: documented api-versions of both profiles, both token forms, a Kubernetes role, no takeover.
const RELEASE_2403: Omit<DeviceProfile, 'name'> = {
  apiVersions: 'both',
  tokenAudience: 'resource-or-scope',
  computeRole: 'Kubernetes',
  stoppedGpuTakeoverMs: null,
  gpuExhaustion: 'AllocationFailed',
  osDiskSurvivesVmDelete: true,
};
// Releases before 2205: the ASE article's api-versions, ADAL-style resource tokens, compute as an IoT role.
const RELEASE_2106: Omit<DeviceProfile, 'name'> = {
  ...RELEASE_2403,
  apiVersions: 'ase-article',
  tokenAudience: 'resource',
  computeRole: 'IOT',
  stoppedGpuTakeoverMs: TAKEOVER_RELEASES_MS,
};

export const BUILT_IN_PROFILES: Record<string, BuiltIn> = {
  default: builtIn('default', '3.2.2403.1234', RELEASE_2403),
  'ase-2106': builtIn('ase-2106', '2.2.2106.1234', RELEASE_2106),
  'ase-2203': builtIn('ase-2203', '2.2.2203.1234', RELEASE_2106),
  'ase-2205': builtIn('ase-2205', '2.2.2205.1234', { ...RELEASE_2403, stoppedGpuTakeoverMs: TAKEOVER_RELEASES_MS }),
  'ase-2403': builtIn('ase-2403', '3.2.2403.1234', RELEASE_2403),
  // The strictest reading of every uncertain behaviour, for controller tests.
  conservative: builtIn('conservative', '2.2.2106.1234', { ...RELEASE_2106, stoppedGpuTakeoverMs: 2000, gpuExhaustion: 'BareDeploymentFailed' }),
  // Api-versions the controller does not know (doctor's FAIL case).
  'future-only': builtIn('future-only', '3.2.2403.1234', { ...RELEASE_2403, apiVersions: 'future-only' }),
};

export const BUILT_IN_PROFILE_NAMES = Object.keys(BUILT_IN_PROFILES);

const FIELDS = ['name', 'base', 'apiVersions', 'tokenAudience', 'computeRole', 'stoppedGpuTakeoverMs', 'gpuExhaustion', 'osDiskSurvivesVmDelete'] as const;
const TOKEN_AUDIENCES: readonly TokenAudience[] = ['resource', 'resource-or-scope'];
const COMPUTE_ROLES: readonly ComputeRoleKind[] = ['Kubernetes', 'IOT', 'none'];
const EXHAUSTIONS: readonly GpuExhaustion[] = ['AllocationFailed', 'OtherCode', 'BareDeploymentFailed'];

function oneOf<T extends string>(value: unknown, allowed: readonly T[], where: string): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) throw new ConfigError(`${where}: one of ${allowed.join(', ')}`);
  return value as T;
}

function builtInNamed(name: unknown, where: string): BuiltIn {
  const found = typeof name === 'string' ? BUILT_IN_PROFILES[name] : undefined;
  if (found === undefined) throw new ConfigError(`${where}: one of ${BUILT_IN_PROFILE_NAMES.join(', ')}`);
  return found;
}

/**
 * Normalizes a device's `profile:` (absent = default); throws ConfigError naming the field. Idempotent: a
 * normalized profile (which carries its name) normalizes to itself.
 */
export function normalizeProfile(input: DeviceProfileInput | undefined, where: string): { profile: DeviceProfile; softwareVersion: string } {
  if (input === undefined || input === null) return clone(builtInNamed('default', where));
  if (typeof input === 'string') return clone(builtInNamed(input, where));
  if (typeof input !== 'object' || Array.isArray(input)) throw new ConfigError(`${where}: a built-in name or a mapping {base, ...fields}`);
  for (const field of Object.keys(input)) {
    if (!(FIELDS as readonly string[]).includes(field)) throw new ConfigError(`${where}.${field}: unknown field (fields: ${FIELDS.join(', ')})`);
  }
  if (input.name !== undefined && typeof input.name !== 'string') throw new ConfigError(`${where}.name: a string`);
  // A `name` naming a built-in (as a normalized profile does) is its base unless `base` says otherwise.
  const baseName = input.base ?? (input.name !== undefined && BUILT_IN_PROFILES[input.name] !== undefined ? input.name : 'default');
  const base = builtInNamed(baseName, `${where}.base`);
  const profile: DeviceProfile = { ...base.profile };
  if (input.apiVersions !== undefined) profile.apiVersions = oneOf(input.apiVersions, API_VERSION_SET_NAMES, `${where}.apiVersions`);
  if (input.tokenAudience !== undefined) profile.tokenAudience = oneOf(input.tokenAudience, TOKEN_AUDIENCES, `${where}.tokenAudience`);
  if (input.computeRole !== undefined) profile.computeRole = oneOf(input.computeRole, COMPUTE_ROLES, `${where}.computeRole`);
  if (input.gpuExhaustion !== undefined) profile.gpuExhaustion = oneOf(input.gpuExhaustion, EXHAUSTIONS, `${where}.gpuExhaustion`);
  if (input.stoppedGpuTakeoverMs !== undefined) {
    const ms = input.stoppedGpuTakeoverMs;
    if (ms !== null && (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)) throw new ConfigError(`${where}.stoppedGpuTakeoverMs: a number >= 0, or null (never)`);
    profile.stoppedGpuTakeoverMs = ms;
  }
  if (input.osDiskSurvivesVmDelete !== undefined) {
    if (typeof input.osDiskSurvivesVmDelete !== 'boolean') throw new ConfigError(`${where}.osDiskSurvivesVmDelete: true or false`);
    profile.osDiskSurvivesVmDelete = input.osDiskSurvivesVmDelete;
  }
  const overridden = FIELDS.some((f) => f !== 'name' && f !== 'base' && input[f] !== undefined && input[f] !== base.profile[f]);
  profile.name = input.name ?? (overridden ? 'custom' : base.profile.name);
  return { profile, softwareVersion: base.softwareVersion };
}

function clone(b: BuiltIn): { profile: DeviceProfile; softwareVersion: string } {
  return { profile: { ...b.profile }, softwareVersion: b.softwareVersion };
}
