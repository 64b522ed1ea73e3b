import { KubeConfig } from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runDoctor } from '../doctor/doctor.js';
import { targetFromEdgeDevice } from '../doctor/edgeDeviceTarget.js';
import { networkFrom, targetFromFlags } from '../doctor/flagsTarget.js';
import { buildReport, redactText } from '../doctor/report.js';
import { renderTable } from '../doctor/table.js';
import { type DoctorTarget, targetSecrets } from '../doctor/target.js';
import { parseDuration } from './duration.js';

export const DOCTOR_USAGE = `usage: gpuvm-controller doctor (--edge-device NAME | --arm-endpoint URL --login-endpoint URL
                              --subscription-id ID --resource-group RG --credentials-file FILE) [flags]

Read-only checks of one Azure Stack Edge device: TLS, ADFS token, api-versions, GPU VM sizes, images, virtual
network, VMs and GPUs, the GPU driver extension and (with an Azure resource id) the Azure-side device. Sends only
GET requests and the token request. Exit code 0 when nothing failed, 1 when a check failed, 2 on bad flags.

  --edge-device NAME          check the EdgeDevice NAME, with the Secrets it names, from the cluster
  --kubeconfig PATH           kubeconfig for --edge-device (default: $KUBECONFIG, then in-cluster)
  --arm-endpoint URL          the device's local ARM, https://management.<device>.<dnsdomain>
  --login-endpoint URL        the device's login (ADFS) endpoint, https://login.<device>.<dnsdomain>
  --subscription-id ID        the device's subscription
  --resource-group RG         the device resource group where VMs and images live
  --credentials-file FILE     JSON or YAML: username, password (the device ARM user); for the Azure side
                              optionally tenantId, clientId, clientSecret
  --ca-file FILE              the device's root CA (PEM); default: the system roots
  --azure-resource-id ID      the device's resource in Azure (/subscriptions/.../dataBoxEdgeDevices/<name>)
  --azure-endpoint URL        Azure Resource Manager endpoint (default https://management.azure.com)
  --authority-host URL        Microsoft Entra authority host (default https://login.microsoftonline.com)
  --vnet-resource-group RG    resource group of the VM network (default ASERG)
  --vnet NAME                 virtual network (default ASEVNET)
  --subnet NAME               subnet (default ASEVNETsubNet)
  --timeout DURATION          limit for each check and each request (default 30s)
  --report FILE               JSON report with every secret removed (default gpuvm-doctor-report.json)
`;


/** Parses flags, runs the checks, writes the report; returns the exit code. Output goes to `write`. */
export async function doctor(args: string[], write: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        'edge-device': { type: 'string' },
        kubeconfig: { type: 'string' },
        'arm-endpoint': { type: 'string' },
        'login-endpoint': { type: 'string' },
        'subscription-id': { type: 'string' },
        'resource-group': { type: 'string' },
        'credentials-file': { type: 'string' },
        'ca-file': { type: 'string' },
        'azure-resource-id': { type: 'string' },
        'azure-endpoint': { type: 'string' },
        'authority-host': { type: 'string' },
        'vnet-resource-group': { type: 'string' },
        vnet: { type: 'string' },
        subnet: { type: 'string' },
        timeout: { type: 'string', default: '30s' },
        report: { type: 'string', default: 'gpuvm-doctor-report.json' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`gpuvm-controller doctor: ${err instanceof Error ? err.message : String(err)}\n\n${DOCTOR_USAGE}`);
    return 2;
  }
  if (values.help === true) {
    write(DOCTOR_USAGE);
    return 0;
  }
  let target: DoctorTarget;
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(values.timeout, '--timeout');
    if (values['edge-device'] !== undefined) {
      const kubeConfig = new KubeConfig();
      if (values.kubeconfig !== undefined) kubeConfig.loadFromFile(values.kubeconfig);
      else kubeConfig.loadFromDefault();
      target = await targetFromEdgeDevice(kubeConfig, values['edge-device'], networkFrom(values), timeoutMs);
    } else {
      target = targetFromFlags(values);
    }
  } catch (err) {
    process.stderr.write(`gpuvm-controller doctor: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const secrets = targetSecrets(target);
  const run = await runDoctor(target, { timeoutMs });
  const report = buildReport(run, {
    armEndpoint: target.arm.endpoint,
    loginEndpoint: target.arm.loginEndpoint,
    subscriptionId: target.arm.subscriptionId,
    resourceGroup: target.arm.resourceGroup,
    ...(target.azure !== undefined ? { azureResourceId: target.azure.resourceId } : {}),
  }, secrets);
  write(redactText(`gpuvm-controller doctor: ${target.source} (${target.arm.endpoint})\n\n${renderTable(report.checks)}`, secrets));
  writeFileSync(values.report, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
  const failed = report.checks.filter((c) => c.status === 'FAIL').map((c) => c.title);
  write(`report: ${values.report}\n`);
  if (failed.length > 0) {
    write(`FAIL: ${failed.join(', ')}\n`);
    return 1;
  }
  return 0;
}

export async function main(args: string[]): Promise<number> {
  return doctor(args);
}
