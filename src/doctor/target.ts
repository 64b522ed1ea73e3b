// Which device doctor checks and with which credentials, however it was named (flags or an EdgeDevice).

export interface DoctorArmTarget {
  endpoint: string;
  loginEndpoint: string;
  subscriptionId: string;
  resourceGroup: string;
  username: string;
  password: string;
  /** The device's root CA (PEM); undefined = the system roots. */
  caPem?: string;
  /** Where username and password came from, named in token errors. */
  credentialsSource?: string;
}

export interface DoctorAzureTarget {
  resourceId: string;
  endpoint?: string;
  authorityHost?: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
}

export interface DoctorNetworkTarget {
  resourceGroup: string;
  virtualNetwork: string;
  subnet: string;
}

/** The network that enabling compute on a device port creates (ASE docs, "Deploy VMs via templates"). */
export const DEFAULT_NETWORK: DoctorNetworkTarget = { resourceGroup: 'ASERG', virtualNetwork: 'ASEVNET', subnet: 'ASEVNETsubNet' };

export interface DoctorTarget {
  /** Where the settings came from, e.g. "EdgeDevice edge-1" or "flags". */
  source: string;
  arm: DoctorArmTarget;
  network: DoctorNetworkTarget;
  azure?: DoctorAzureTarget;
  /** Device software version known before asking Azure (EdgeDevice status). */
  softwareVersion?: string;
}

/** Every secret value of a target, for redaction. */
export function targetSecrets(target: DoctorTarget): string[] {
  return [target.arm.password, target.azure?.clientSecret].filter((s): s is string => s !== undefined && s !== '');
}
