import { RECONCILE_REQUESTED_ANNOTATION } from '../api/types.js';

interface Requestable {
  metadata: { annotations?: Record<string, string> | undefined };
  status?: { lastHandledReconcileAt?: string | undefined } | undefined;
}

/** The reconcile-now annotation's value, when there is one. */
export function requestedReconcileAt(obj: Requestable): string | undefined {
  return obj.metadata.annotations?.[RECONCILE_REQUESTED_ANNOTATION];
}

/** A reconcile-now value the controller has not answered yet: the device is read at once, bypassing cached views. */
export function unhandledReconcileRequest(obj: Requestable): string | undefined {
  const requested = requestedReconcileAt(obj);
  return requested !== undefined && requested !== obj.status?.lastHandledReconcileAt ? requested : undefined;
}
