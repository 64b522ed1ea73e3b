// The keys of a work queue that wait to be handed out, in priority order: a higher priority first, FIFO within a
// priority, as in controller-runtime's priority queue (pkg/controller/priorityqueue). A key waits once; adding it
// again with a higher priority moves it up (to the back of that priority), never down.
//
// Strict priority alone would let a steady stream of higher-priority keys keep a lower one waiting for ever, so
// there is a bound: after `maxPassOver` keys in a row were handed out while a lower-priority key waited, the next
// one is the lower-priority key that has waited longest. Lower work gets at least 1 in maxPassOver + 1 hand-outs
// while it waits, and a higher key waits behind at most one such key.

export type Priority = 'high' | 'normal' | 'low';

/** Highest first. */
export const PRIORITIES: readonly Priority[] = ['high', 'normal', 'low'];

const RANK: Readonly<Record<Priority, number>> = { high: 0, normal: 1, low: 2 };

/** The higher of two priorities. */
export function higherPriority(a: Priority, b: Priority): Priority {
  return RANK[a] <= RANK[b] ? a : b;
}

export function isPriority(value: unknown): value is Priority {
  return value === 'high' || value === 'normal' || value === 'low';
}

/** The default bound of hand-outs in a row past a waiting lower-priority key. */
export const DEFAULT_MAX_PASS_OVER = 10;

interface LaneEntry {
  key: string;
  /** Order of entry into any lane: a smaller seq waited longer. */
  seq: number;
}

/** One priority's FIFO. Entries left behind by a key that moved up stay until they reach the head, then are skipped. */
class Lane {
  private entries: LaneEntry[] = [];
  private head = 0;
  /** Entries that are current (not left behind). */
  size = 0;

  push(entry: LaneEntry): void {
    this.entries.push(entry);
    this.size++;
  }

  /** The oldest current entry, dropping stale ones in front of it. */
  peek(isCurrent: (entry: LaneEntry) => boolean): LaneEntry | undefined {
    if (this.size === 0) {
      this.entries = [];
      this.head = 0;
      return undefined;
    }
    for (; this.head < this.entries.length; this.head++) {
      const entry = this.entries[this.head] as LaneEntry;
      if (isCurrent(entry)) return entry;
    }
    return undefined;
  }

  /** Removes the entry peek() returned. */
  dropHead(): void {
    this.head++;
    this.size--;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.size = 0;
  }
}

export class ReadyKeys {
  private readonly lanes: Lane[] = PRIORITIES.map(() => new Lane());
  private readonly waiting = new Map<string, { priority: Priority; seq: number }>();
  private seq = 0;
  /** Hand-outs in a row that passed over a waiting lower-priority key. */
  private passedOver = 0;
  private readonly isCurrent = (entry: LaneEntry): boolean => this.waiting.get(entry.key)?.seq === entry.seq;

  /** @param maxPassOver Infinity for strict priority. */
  constructor(private readonly maxPassOver: number = DEFAULT_MAX_PASS_OVER) {}

  get size(): number {
    return this.waiting.size;
  }

  sizeOf(priority: Priority): number {
    return (this.lanes[RANK[priority]] as Lane).size;
  }

  has(key: string): boolean {
    return this.waiting.has(key);
  }

  /** Adds a key that is not waiting yet, at the back of its priority. */
  push(key: string, priority: Priority): void {
    const seq = this.seq++;
    this.waiting.set(key, { priority, seq });
    (this.lanes[RANK[priority]] as Lane).push({ key, seq });
  }

  /** Moves a waiting key to the back of `priority` when that is higher than its own; otherwise nothing. */
  raise(key: string, priority: Priority): void {
    const current = this.waiting.get(key);
    if (current === undefined || RANK[priority] >= RANK[current.priority]) return;
    (this.lanes[RANK[current.priority]] as Lane).size--;
    this.push(key, priority);
  }

  /** Takes the next key: the oldest of the highest priority, or, once lower keys were passed over enough, the oldest lower one. */
  shift(): { key: string; priority: Priority } | undefined {
    const heads = this.lanes.map((lane) => lane.peek(this.isCurrent));
    const top = heads.findIndex((head) => head !== undefined);
    if (top < 0) return undefined;
    let rank = top;
    let oldestLower = -1;
    for (let r = top + 1; r < heads.length; r++) {
      const head = heads[r];
      if (head !== undefined && (oldestLower < 0 || head.seq < (heads[oldestLower] as LaneEntry).seq)) oldestLower = r;
    }
    if (oldestLower < 0) this.passedOver = 0;
    else if (this.passedOver >= this.maxPassOver) {
      rank = oldestLower;
      this.passedOver = 0;
    } else this.passedOver++;
    const { key } = heads[rank] as LaneEntry;
    (this.lanes[rank] as Lane).dropHead();
    this.waiting.delete(key);
    return { key, priority: PRIORITIES[rank] as Priority };
  }

  clear(): void {
    for (const lane of this.lanes) lane.clear();
    this.waiting.clear();
    this.passedOver = 0;
  }
}
