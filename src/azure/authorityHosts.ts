// Microsoft Entra authority hosts of the Azure clouds. Published in "National clouds" (Microsoft identity
// platform, https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud) and as
// @azure/identity's AzureAuthorityHosts; login.partner.microsoftonline.cn is the documented alternative host of
// Azure operated by 21Vianet. Microsoft Cloud Germany (login.microsoftonline.de) closed in 2021 and is left out.
export const AZURE_CLOUD_AUTHORITY_HOSTS: readonly string[] = [
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
];

/** Azure Resource Manager hosts of the same clouds: the device CA is never trusted for them. */
export const AZURE_CLOUD_ARM_HOSTS: readonly string[] = ['management.azure.com', 'management.usgovcloudapi.net', 'management.chinacloudapi.cn'];

export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/** The lower-case host name of an authority URL, or undefined when it is not an https:// URL. */
export function authorityHostName(authority: string): string | undefined {
  try {
    const url = new URL(authority);
    return url.protocol === 'https:' ? url.hostname.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

export function isAzureCloudAuthority(authority: string): boolean {
  const host = authorityHostName(authority);
  return host !== undefined && AZURE_CLOUD_AUTHORITY_HOSTS.includes(host);
}
