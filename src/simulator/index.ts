// Public in-process API of the device simulator.
export { Simulator, startSimulator } from './server.js';
export type { AzureEndpoints, DeviceEndpoints, DeviceStateView, SimulatorEndpoints, SimulatorOptions } from './server.js';
export type { AuditEntry, Violation } from './audit.js';
export { DEFAULT_TIMINGS, ZERO_TIMINGS, normalizeConfig, parseConfigYaml } from './config.js';
export type { AzureSideConfig, DeviceConfig, DeviceInput, FaultKind, FaultRule, ImageConfig, OsType, SimulatorConfig, SimulatorInput, TimingConfig } from './config.js';
export { expectedGpuExtensionVersion } from './arm/compute.js';
export { BUILT_IN_PROFILES, BUILT_IN_PROFILE_NAMES, normalizeProfile } from './profiles.js';
export type { ApiVersionSetName, ComputeRoleKind, DeviceProfile, DeviceProfileInput, GpuExhaustion, TokenAudience } from './profiles.js';
export { API_VERSION_SETS } from './apiVersions.js';
export type { ApiVersionSet } from './apiVersions.js';
