// Generated from crds/*.yaml by `npm run generate`. Do not edit by hand.

/** Secret with keys username and password of the device ARM user (EdgeArmUser). */
export interface EdgeDeviceSpecArmCredentialsSecretRef {
  /** Secret name (a DNS subdomain). */
  name: string;
  /** Secret namespace (a DNS label); left out, the controller's namespace (--controller-namespace, gpuvm-system by default), the only one the controller reads device Secrets from. */
  namespace?: string;
}

/** Secret holding the device's root CA certificate (PEM). Omit only when the device certificate chains to a public root. */
export interface EdgeDeviceSpecArmCaBundleSecretRef {
  /** Secret name (a DNS subdomain). */
  name: string;
  /** Secret namespace (a DNS label); left out, the controller's namespace (--controller-namespace, gpuvm-system by default), the only one the controller reads device Secrets from. */
  namespace?: string;
  /** Key of the PEM data in the Secret. */
  key?: string;
}

/** The device's local Azure Resource Manager. */
export interface EdgeDeviceSpecArm {
  /** Local ARM endpoint, e.g. https://management.dbe-1a2b3c.contoso.local. HTTPS only. */
  endpoint: string;
  /** ADFS authority host of the device, e.g. https://login.dbe-1a2b3c.contoso.local. HTTPS only. */
  loginEndpoint: string;
  /** The device's subscription id (a GUID). */
  subscriptionId: string;
  /** Resource group on the device where VMs, NICs and images live. */
  resourceGroup: string;
  /** Secret with keys username and password of the device ARM user (EdgeArmUser). */
  credentialsSecretRef: EdgeDeviceSpecArmCredentialsSecretRef;
  /** Secret holding the device's root CA certificate (PEM). Omit only when the device certificate chains to a public root. */
  caBundleSecretRef?: EdgeDeviceSpecArmCaBundleSecretRef;
}

/** Secret with keys tenantId, clientId, clientSecret. Absent means workload identity or the default credential chain. */
export interface EdgeDeviceSpecAzureCredentialsSecretRef {
  /** Secret name (a DNS subdomain). */
  name: string;
  /** Secret namespace (a DNS label); left out, the controller's namespace (--controller-namespace, gpuvm-system by default), the only one the controller reads device Secrets from. */
  namespace?: string;
}

/** The device's resource in Azure, for capacity discovery and the Kubernetes role. */
export interface EdgeDeviceSpecAzure {
  /** /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/<name> */
  resourceId: string;
  /** Azure Resource Manager endpoint (sovereign clouds, simulator). */
  endpoint?: string;
  /** Microsoft Entra authority host. */
  authorityHost?: string;
  /** Secret with keys tenantId, clientId, clientSecret. Absent means workload identity or the default credential chain. */
  credentialsSecretRef?: EdgeDeviceSpecAzureCredentialsSecretRef;
}

/** The device's Kubernetes compute role. */
export interface EdgeDeviceSpecKubernetes {
  /** Unmanaged observes only; Configured creates the Kubernetes role once no GpuVm waits for a free GPU; NotConfigured removes every compute role (Kubernetes or IoT). */
  state?: "Unmanaged" | "Configured" | "NotConfigured";
}

/** Desired state of the device. */
export interface EdgeDeviceSpec {
  /** The device's local Azure Resource Manager. */
  arm: EdgeDeviceSpecArm;
  /** The device's resource in Azure, for capacity discovery and the Kubernetes role. */
  azure?: EdgeDeviceSpecAzure;
  /** GPUs on the device (EdgeP_Base 1, EdgeP_High 2). Required when spec.azure is absent; otherwise discovered. */
  gpus?: number;
  /** The device's Kubernetes compute role. */
  kubernetes?: EdgeDeviceSpecKubernetes;
  /** Namespaces whose GpuVms may use this device. Absent means every namespace; an empty list means none. A GpuVm from another namespace gets GpuReserved=False, reason NamespaceNotAllowed, and no GPU. */
  allowedNamespaces?: string[];
  /** When true every GPU VM of the device is powered off (stays allocated), e.g. right before a device update. Where compute runs on the device the drain ends after the controller's --drain-timeout (compute may take stopped VMs' GPUs). */
  drain?: boolean;
  /** Pause (Flux's spec.suspend convention). While true the controller makes no call to the device's local ARM or its Azure resource, for the device or any of its GpuVms; status keeps what it last observed, the admission ledger included, and says Suspended=True. Setting it back to false resumes where it stopped. */
  suspend?: boolean;
}

export interface EdgeDeviceStatusConditionsItem {
  type: string;
  status: "True" | "False" | "Unknown";
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface EdgeDeviceStatusGpus {
  total?: number;
  vms?: number;
  kubernetes?: number;
  free?: number;
}

export interface EdgeDeviceStatusAllocationsItem {
  /** namespace/name of the GpuVm. */
  gpuVm: string;
  uid: string;
  state: "Reserved" | "Held";
}

export interface EdgeDeviceStatusKubernetesRolesItem {
  name: string;
  kind: string;
  provisioningState?: string;
  roleStatus?: string;
}

export interface EdgeDeviceStatusKubernetes {
  /** Configured or NotConfigured, as observed. */
  state?: string;
  provisioningState?: string;
  gpus?: number;
  /** Every compute role of the device (any kind, e.g. Kubernetes or IOT); a Created one holds the GPUs that were free when it was configured. */
  roles?: EdgeDeviceStatusKubernetesRolesItem[];
}

/** The api-versions the controller speaks to this device's local ARM, chosen from what the device serves. */
export interface EdgeDeviceStatusApiVersions {
  compute?: string;
  disks?: string;
  network?: string;
  resources?: string;
}

/** In sharded mode (--sharding), the controller replica that owns this device and when it took it over; the fencing record of a handover. */
export interface EdgeDeviceStatusShard {
  /** Identity of the owning replica (its Lease is gpuvm-controller-shard-<replica>). */
  replica: string;
  /** When this replica took the device over. */
  since: string;
  /** Set when the replica gave the device up for another one to take. */
  releasedAt?: string;
}

/** Observed state of the device. */
export interface EdgeDeviceStatus {
  observedGeneration?: number;
  conditions?: EdgeDeviceStatusConditionsItem[];
  gpus?: EdgeDeviceStatusGpus;
  /** The admission ledger; written only by the EdgeDevice reconciler. */
  allocations?: EdgeDeviceStatusAllocationsItem[];
  /** GPU VMs on the device that no GpuVm owns. */
  foreignVms?: string[];
  kubernetes?: EdgeDeviceStatusKubernetes;
  /** The api-versions the controller speaks to this device's local ARM, chosen from what the device serves. */
  apiVersions?: EdgeDeviceStatusApiVersions;
  softwareVersion?: string;
  /** The value of the gpuvm.io/reconcile-requested-at annotation the controller last answered (Flux's status.lastHandledReconcileAt). */
  lastHandledReconcileAt?: string;
  /** In sharded mode (--sharding), the controller replica that owns this device and when it took it over; the fencing record of a handover. */
  shard?: EdgeDeviceStatusShard;
}

/** The EdgeDevice the VM runs on. Immutable. */
export interface GpuVmSpecDeviceRef {
  /** Name of the EdgeDevice (a DNS subdomain). */
  name: string;
}

/** Guest OS, used to warn when the GPU driver extension does not support it. */
export interface GpuVmSpecImageOs {
  /** e.g. Ubuntu, RHEL, WindowsServer. */
  name?: string;
  /** e.g. "18.04", "7.4", "2019". */
  version?: string;
}

/** The VM image (Microsoft.Compute/images) in the device resource group. Immutable. */
export interface GpuVmSpecImage {
  /** Image resource name on the device. */
  name: string;
  /** Operating system family; selects the GPU driver extension. */
  osType: "Linux" | "Windows";
  /** Guest OS, used to warn when the GPU driver extension does not support it. */
  os?: GpuVmSpecImageOs;
}

/** Secret in the GpuVm's namespace with username and either password or sshPublicKey. */
export interface GpuVmSpecAdminCredentialsSecretRef {
  /** Secret name (a DNS subdomain). */
  name: string;
}

/** Where the VM's NIC is attached. */
export interface GpuVmSpecNetwork {
  /** Virtual network created by enabling compute on a device port. */
  virtualNetwork?: string;
  /** Resource group of the virtual network. */
  virtualNetworkResourceGroup?: string;
  /** Subnet of the virtual network. */
  subnet?: string;
  /** Static private IPv4 address; empty for a dynamic address. */
  privateIPAddress?: string;
}

/** The NVIDIA GPU driver VM extension. */
export interface GpuVmSpecGpuDriver {
  /** Install the GPU driver extension. */
  install?: boolean;
  /** Extension version such as "1.8"; empty picks the version that matches the device release. */
  typeHandlerVersion?: string;
  /** Extension settings (Windows DriverURL, DriverCertificateUrl, DriverType). */
  settings?: Record<string, unknown>;
}

/** Desired state of the GPU VM. */
export interface GpuVmSpec {
  /** The EdgeDevice the VM runs on. Immutable. */
  deviceRef: GpuVmSpecDeviceRef;
  /** VM size. Only the T4 GPU sizes can attach the device's GPU. Immutable (resize = recreate). */
  size: "Standard_NC4as_T4_v3" | "Standard_NC8as_T4_v3";
  /** The VM image (Microsoft.Compute/images) in the device resource group. Immutable. */
  image: GpuVmSpecImage;
  /** Secret in the GpuVm's namespace with username and either password or sshPublicKey. */
  adminCredentialsSecretRef: GpuVmSpecAdminCredentialsSecretRef;
  /** Where the VM's NIC is attached. */
  network?: GpuVmSpecNetwork;
  /** The NVIDIA GPU driver VM extension. */
  gpuDriver?: GpuVmSpecGpuDriver;
  /** Running; Stopped (powered off, stays allocated; where compute runs on the device it may take the GPU, so Stopped is refused there unless annotated gpuvm.io/allow-gpu-release); Deallocated (releases its GPU). */
  powerState?: "Running" | "Stopped" | "Deallocated";
  /** Delete removes the VM, its extension and NIC from the device; Orphan leaves them. */
  deletionPolicy?: "Delete" | "Orphan";
  /** Pause (Flux's spec.suspend convention). While true (or while its EdgeDevice is suspended) the controller makes no call to the device for this GpuVm, not even a read; status keeps what it last observed and says Suspended=True; deletion waits. Setting it back to false resumes where it stopped. */
  suspend?: boolean;
}

export interface GpuVmStatusConditionsItem {
  type: string;
  status: "True" | "False" | "Unknown";
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface GpuVmStatusVm {
  resourceId?: string;
  computerName?: string;
  ipAddress?: string;
  powerState?: string;
  provisioningState?: string;
}

/** In-flight ARM work, resumed by deployment name after a restart. */
export interface GpuVmStatusOperation {
  /** CreateVm, InstallGpuDriver, Start, PowerOff, Deallocate, DeleteVm, DeleteNic or DeleteDisk. */
  kind: string;
  deploymentName?: string;
  startedAt?: string;
  /** Attempts of this operation so far; retries back off exponentially. */
  attempts?: number;
}

/** Observed state of the GPU VM. */
export interface GpuVmStatus {
  observedGeneration?: number;
  phase?: "Pending" | "WaitingForGpu" | "Provisioning" | "InstallingDriver" | "Ready" | "Stopped" | "Deleting" | "Failed";
  conditions?: GpuVmStatusConditionsItem[];
  vm?: GpuVmStatusVm;
  /** The VM's managed OS disk, named by the device; kept after the VM is gone so that deletion removes the disk too (a managed disk outlives its VM). */
  osDiskName?: string;
  /** In-flight ARM work, resumed by deployment name after a restart. */
  operation?: GpuVmStatusOperation;
  /** The value of the gpuvm.io/reconcile-requested-at annotation the controller last answered (Flux's status.lastHandledReconcileAt). */
  lastHandledReconcileAt?: string;
}
