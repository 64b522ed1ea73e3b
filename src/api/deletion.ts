// Kubernetes marks an object for deletion by setting metadata.deletionTimestamp; finalizers then run.
import { FINALIZER } from './types.js';

/** True once the object has a deletionTimestamp (client-node gives a Date, a raw object a string). */
export function isBeingDeleted(o: { metadata?: { deletionTimestamp?: Date | string | null } }): boolean {
  return o.metadata?.deletionTimestamp !== undefined && o.metadata.deletionTimestamp !== null;
}

/** True when the object carries this controller's finalizer. */
export function hasFinalizer(o: { metadata?: { finalizers?: string[] } }): boolean {
  return (o.metadata?.finalizers ?? []).includes(FINALIZER);
}
