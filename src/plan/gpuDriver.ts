import type { GpuVmSpec } from '../api/types.js';
import { deviceRelease, type GpuDriverChoice } from '../arm/gpuExtension.js';

/** What the driver choice depends on: the image's OS type and a version pinned in the spec. */
export interface GpuDriverInput {
  image: Pick<GpuVmSpec['image'], 'osType'>;
  gpuDriver?: GpuVmSpec['gpuDriver'];
}

/** Extension type and version by OS and device release (domain notes), unless the spec pins a version. */
export function chooseGpuDriver(spec: GpuDriverInput, softwareVersion: string | undefined): GpuDriverChoice {
  const windows = spec.image.osType === 'Windows';
  const extensionType = windows ? 'NvidiaGpuDriverWindows' : 'NvidiaGpuDriverLinux';
  const pinned = spec.gpuDriver?.typeHandlerVersion;
  if (pinned !== undefined && pinned !== '') {
    return { extensionType, typeHandlerVersion: pinned, basis: 'spec.gpuDriver.typeHandlerVersion' };
  }
  const release = deviceRelease(softwareVersion);
  // Devices before 2205 ship the 1.3 handlers; an unrecognised version is assumed current.
  if (release !== undefined && release < 2205) {
    return { extensionType, typeHandlerVersion: '1.3', basis: `device release ${release}` };
  }
  return {
    extensionType,
    typeHandlerVersion: windows ? '1.5' : '1.8',
    basis: release === undefined ? `device software version "${softwareVersion ?? 'unknown'}" (assumed 2205 or later)` : `device release ${release}`,
  };
}

export interface GuestOsSupport {
  supported: boolean;
  message: string;
}

const SUPPORTED: readonly { name: RegExp; version: RegExp; label: string; note?: string }[] = [
  { name: /^windows ?server$/i, version: /^(2019|2016)$/, label: 'Windows Server 2019/2016' },
  { name: /^(rhel|red ?hat( enterprise linux)?)$/i, version: /^7\.4$/, label: 'Red Hat Enterprise Linux 7.4' },
  { name: /^ubuntu$/i, version: /^18\.04$/, label: 'Ubuntu 18.04', note: 'Ubuntu 18.04 is deprecated for the GPU driver extension' },
];

/** Whether the GPU driver extension supports the declared guest OS. Unknown OSes are warned about, never blocked. */
export function guestOsSupport(spec: GpuVmSpec): GuestOsSupport {
  const os = spec.image.os;
  if (os?.name === undefined || os.name === '') {
    return { supported: true, message: 'guest OS not declared (spec.image.os); the GPU driver extension support was not checked' };
  }
  const described = `${os.name} ${os.version ?? ''}`.trim();
  const match = SUPPORTED.find((s) => s.name.test(os.name ?? '') && s.version.test(os.version ?? ''));
  if (match === undefined) {
    return {
      supported: false,
      message: `${described} is not a supported guest OS for the NVIDIA GPU driver extension (supported: Windows Server 2019/2016, Red Hat Enterprise Linux 7.4, Ubuntu 18.04); the install is attempted anyway`,
    };
  }
  return { supported: true, message: match.note ?? `${match.label} is supported by the GPU driver extension` };
}
