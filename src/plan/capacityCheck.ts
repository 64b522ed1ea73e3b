/**
 * The answer to "does the device still have a GPU for this GpuVm?", asked after its CreateVM failed: pending
 * until the device has been listed again and admission has run on that listing.
 */
export type CapacityCheck = { state: 'pending' } | { state: 'done'; reserved: boolean };
