// The one reconcile loop both kinds run (the controller-runtime / kube-rs shape: observe, plan, act):
//   1. the kind starts a session from its caches (no remote call);
//   2. plan; while the planner names a read it still needs, perform that read (each at most once) and plan again;
//   3. the finalizer rule (one table), else: write the status ahead of an action that must survive a crash
//      (a deployment PUT records its intent first), act, record the Event, write the status once, requeue.
// Each kind supplies its planner, its read table and its action table; no remote call happens anywhere else.
import { FINALIZER } from '../api/types.js';
import type { EventRecorder, EventTarget } from '../kube/eventRecorder.js';
import { done, requeueAfter, type ReconcileOutcome } from '../runtime/controller.js';
import type { KubeObject } from '../runtime/informer.js';
import { isThrottled } from './actionFailures.js';
import { retryOnConflict } from './conflicts.js';
import { FreshObjects } from './freshObjects.js';
import type { Logger } from './ports.js';

export interface PlannedEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** The Event's action; default the planned action's kind. */
  action?: string;
}

/** A planner's decision: one action and the status that goes with it. */
export interface Decision<A extends { kind: string }, S> {
  action: A;
  status: S;
  requeueAfterMs?: number;
  event?: PlannedEvent;
}

export type PlanStep<R, A extends { kind: string }, S> = { kind: 'read'; read: R } | { kind: 'plan'; plan: Decision<A, S> };

/** What the loop tells the kind about an action that failed: the status to write and the Event to record. */
export interface ActionFailure<S> {
  status: S;
  event: PlannedEvent;
}

/** One reconcile of one object: its observation, and what the reads found that only the actions use. */
export interface ReconcileKind<O extends KubeObject, Session, R extends string, A extends { kind: string }, S> {
  /** For logs and errors, e.g. "GpuVm". */
  readonly kind: string;
  /** The object in the informer cache. */
  cached(key: string): O | undefined;
  /** The object is gone: drop what the kind keeps per key. */
  forget(key: string): void;
  /** Starts a session from the caches; no remote call. */
  begin(object: O): Session;
  plan(session: Session): PlanStep<R, A, S>;
  /** The read table: fills one read into the session. */
  read(read: R, session: Session, log: Logger): Promise<void>;
  /** The action table; the answer may carry how long the device asked to wait (Retry-After). */
  act(action: A, session: Session, log: Logger): Promise<{ retryAfterMs?: number } | undefined>;
  /** Actions whose status (the intent) is written before they are sent. */
  writesAhead(action: A): boolean;
  writeStatus(object: O, status: S): Promise<O | undefined>;
  /** The status and Warning Event that say an action failed. */
  failed(action: A, decision: Decision<A, S>, session: Session, err: unknown): ActionFailure<S>;
  /** An error about to leave the reconcile, with what it must not carry removed. */
  scrub(err: unknown, session: Session): unknown;
  /** After the status is written: the requeue, and whatever else the kind does once a decision took effect. */
  settled(key: string, decision: Decision<A, S>, session: Session, retryAfterMs: number | undefined): ReconcileOutcome;
}

/** Sets an object's finalizers (a metadata patch); KubeStatusWriter is one. */
export interface FinalizerWriter<O> {
  setFinalizers(object: O, finalizers: string[]): Promise<O>;
}

type FinalizerAction = 'addFinalizer' | 'removeFinalizer';

/**
 * The finalizer rule, the same for every kind: add it and go on with the object the patch returned (a turn through
 * the queue would only delay the first real step); remove it and stop.
 */
const FINALIZER_RULES: Record<FinalizerAction, { finalizers: (others: string[]) => string[]; goOn: boolean }> = {
  addFinalizer: { finalizers: (others) => [...others, FINALIZER], goOn: true },
  removeFinalizer: { finalizers: (others) => others, goOn: false },
};

const isFinalizerAction = (kind: string): kind is FinalizerAction => kind === 'addFinalizer' || kind === 'removeFinalizer';

export class ReconcileLoop<O extends KubeObject & EventTarget & { metadata: { finalizers?: string[] } }, Session, R extends string, A extends { kind: string }, S> {
  private readonly fresh = new FreshObjects<O>();

  constructor(
    private readonly definition: ReconcileKind<O, Session, R, A, S>,
    private readonly writer: FinalizerWriter<O>,
    private readonly events: EventRecorder,
    private readonly log: Logger,
  ) {}

  async reconcile(key: string, log: Logger = this.log): Promise<ReconcileOutcome> {
    const cached = this.definition.cached(key);
    if (cached === undefined) {
      this.fresh.forget(key);
      this.definition.forget(key);
      return done();
    }
    return retryOnConflict(log, key, () => this.reconcileObject(key, this.fresh.resolve(key, cached), log));
  }

  /** The informer's cache has a new version of the object under `key` (see FreshObjects.observed). */
  observed(key: string, resourceVersion: string | undefined): void {
    this.fresh.observed(key, resourceVersion);
  }

  /** Plans until the planner has all it needs. */
  async decide(session: Session, log: Logger): Promise<Decision<A, S>> {
    const k = this.definition;
    const performed = new Set<R>();
    for (;;) {
      const step = k.plan(session);
      if (step.kind === 'plan') return step.plan;
      // A planner that asks again for what it was given would loop: that is a bug, not a device problem.
      if (performed.has(step.read)) throw new Error(`${k.kind} planner asked twice for read ${step.read}`);
      performed.add(step.read);
      await k.read(step.read, session, log);
    }
  }

  private async reconcileObject(key: string, object: O, log: Logger, finalizerAdded = false): Promise<ReconcileOutcome> {
    const k = this.definition;
    const session = k.begin(object);
    let decision: Decision<A, S>;
    try {
      decision = await this.decide(session, log);
    } catch (err) {
      throw k.scrub(err, session);
    }
    const { action } = decision;
    if (isFinalizerAction(action.kind)) {
      const rule = FINALIZER_RULES[action.kind];
      const others = (object.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
      const patched = await this.writer.setFinalizers(object, rule.finalizers(others));
      this.fresh.remember(key, object, patched);
      if (!rule.goOn) return done();
      // Once: a planner that asks again for the finalizer it was just given is looked at again from the queue.
      return finalizerAdded ? requeueAfter(0) : this.reconcileObject(key, patched, log, true);
    }

    const ahead = k.writesAhead(action);
    // The intent first: a crash after this write resumes the operation from status instead of repeating it blindly.
    let current = object;
    if (ahead) current = this.remember(key, current, await k.writeStatus(current, decision.status));
    let started: { retryAfterMs?: number } | undefined;
    try {
      started = await k.act(action, session, log);
    } catch (err) {
      if (!isThrottled(err)) await this.recordFailure(key, current, decision, session, err, log);
      throw k.scrub(err, session);
    }
    if (decision.event !== undefined) {
      const e = decision.event;
      this.events.record(current, e.type, e.reason, e.action ?? action.kind, e.message);
    }
    if (!ahead) {
      const written = await k.writeStatus(current, decision.status);
      if (written !== undefined) log.debug({ action: action.kind }, 'status written');
      this.remember(key, current, written);
    }
    return k.settled(key, decision, session, started?.retryAfterMs);
  }

  private remember(key: string, basedOn: O, written: O | undefined): O {
    this.fresh.remember(key, basedOn, written);
    return written ?? basedOn;
  }

  /**
   * A failed action is written down before the reconcile fails (and is retried with backoff): its condition and a
   * Warning Event name the error code.
   */
  private async recordFailure(key: string, object: O, decision: Decision<A, S>, session: Session, err: unknown, log: Logger): Promise<void> {
    const k = this.definition;
    const failure = k.failed(decision.action, decision, session, err);
    this.events.record(object, failure.event.type, failure.event.reason, failure.event.action ?? decision.action.kind, failure.event.message);
    try {
      this.remember(key, object, await k.writeStatus(object, failure.status));
    } catch (writeErr) {
      log.warn({ err: String(writeErr) }, 'could not record the failed action in status');
    }
  }
}
