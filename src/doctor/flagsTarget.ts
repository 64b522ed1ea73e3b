// A doctor target from command-line flags and a credentials file (JSON or YAML: username, password, and for the
// Azure side optionally tenantId, clientId, clientSecret).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_NETWORK, type DoctorNetworkTarget, type DoctorTarget } from './target.js';

export interface TargetFlags {
  'arm-endpoint'?: string | undefined;
  'login-endpoint'?: string | undefined;
  'subscription-id'?: string | undefined;
  'resource-group'?: string | undefined;
  'credentials-file'?: string | undefined;
  'ca-file'?: string | undefined;
  'azure-resource-id'?: string | undefined;
  'azure-endpoint'?: string | undefined;
  'authority-host'?: string | undefined;
}

export interface NetworkFlags {
  'vnet-resource-group'?: string | undefined;
  vnet?: string | undefined;
  subnet?: string | undefined;
}

interface Credentials {
  username: string;
  password: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
}

const optionalString = (value: unknown, field: string, file: string): string | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new Error(`${file}: ${field} must be a string`);
  return value;
};

/** Reads the credentials file; errors name the file and field, never a value. */
export function readCredentialsFile(file: string): Credentials {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`--credentials-file ${file}: cannot read it as JSON or YAML (${err instanceof Error ? err.name : 'error'})`, { cause: err });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`--credentials-file ${file}: expected an object with username and password`);
  const d = doc as Record<string, unknown>;
  const username = optionalString(d['username'], 'username', file);
  const password = optionalString(d['password'], 'password', file);
  if (username === undefined || username === '' || password === undefined || password === '') throw new Error(`--credentials-file ${file}: username and password are required`);
  const out: Credentials = { username, password };
  for (const key of ['tenantId', 'clientId', 'clientSecret'] as const) {
    const v = optionalString(d[key], key, file);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

export function networkFrom(flags: NetworkFlags): DoctorNetworkTarget {
  return {
    resourceGroup: flags['vnet-resource-group'] ?? DEFAULT_NETWORK.resourceGroup,
    virtualNetwork: flags.vnet ?? DEFAULT_NETWORK.virtualNetwork,
    subnet: flags.subnet ?? DEFAULT_NETWORK.subnet,
  };
}

export function targetFromFlags(flags: TargetFlags & NetworkFlags): DoctorTarget {
  const required = ['arm-endpoint', 'login-endpoint', 'subscription-id', 'resource-group', 'credentials-file'] as const;
  const missing = required.filter((k) => flags[k] === undefined || flags[k] === '');
  if (missing.length > 0) throw new Error(`give --edge-device NAME, or all of ${required.map((k) => `--${k}`).join(', ')} (missing: ${missing.map((k) => `--${k}`).join(', ')})`);
  // The device serves HTTPS only, and bearer tokens never travel over plain HTTP (the CRD requires the same).
  for (const k of ['arm-endpoint', 'login-endpoint', 'azure-endpoint', 'authority-host'] as const) {
    const url = flags[k];
    if (url !== undefined && !/^https:\/\/[^/]/i.test(url)) throw new Error(`--${k} must be an https:// URL (got ${url})`);
  }
  const creds = readCredentialsFile(flags['credentials-file'] ?? '');
  const caFile = flags['ca-file'];
  const caPem = caFile !== undefined ? readFileSync(caFile, 'utf8') : undefined;
  if (caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--ca-file ${caFile ?? ''}: not a PEM certificate`);
  const resourceId = flags['azure-resource-id'];
  return {
    source: 'flags',
    arm: {
      endpoint: flags['arm-endpoint'] ?? '',
      loginEndpoint: flags['login-endpoint'] ?? '',
      subscriptionId: flags['subscription-id'] ?? '',
      resourceGroup: flags['resource-group'] ?? '',
      username: creds.username,
      password: creds.password,
      ...(caPem !== undefined ? { caPem } : {}),
      credentialsSource: `--credentials-file ${flags['credentials-file'] ?? ''}`,
    },
    network: networkFrom(flags),
    ...(resourceId !== undefined
      ? {
          azure: {
            resourceId,
            ...(flags['azure-endpoint'] !== undefined ? { endpoint: flags['azure-endpoint'] } : {}),
            ...(flags['authority-host'] !== undefined ? { authorityHost: flags['authority-host'] } : {}),
            ...(creds.tenantId !== undefined ? { tenantId: creds.tenantId } : {}),
            ...(creds.clientId !== undefined ? { clientId: creds.clientId } : {}),
            ...(creds.clientSecret !== undefined ? { clientSecret: creds.clientSecret } : {}),
          },
        }
      : {}),
  };
}
