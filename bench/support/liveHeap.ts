// The controller's live heap: what is left after a full garbage collection, read over the V8 inspector.
// Peak RSS says how much memory the process took; V8 grows its heap lazily up to a limit it derives from the
// memory it sees (about half of a container's memory limit), so only the live heap says how much a fleet needs.
// heapSummary() says where it goes: a heap snapshot's objects by constructor, as DevTools' Summary view groups them.

import { writeFileSync } from 'node:fs';

interface InspectorTarget {
  webSocketDebuggerUrl?: string;
}

type Call = (method: string, params?: Record<string, unknown>) => Promise<unknown>;

/** Opens the inspector of `pid` (started with --inspect-port=`port`) with SIGUSR1 and runs `use` over it. */
async function withInspector<T>(pid: number, port: number, use: (call: Call, onEvent: (method: string, handle: (params: unknown) => void) => void) => Promise<T>): Promise<T> {
  process.kill(pid, 'SIGUSR1');
  let url: string | undefined;
  for (const deadline = Date.now() + 10_000; url === undefined; ) {
    try {
      const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as InspectorTarget[];
      url = targets[0]?.webSocketDebuggerUrl;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`the controller's inspector on port ${port} did not answer`, { cause: error });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let id = 0;
  const replies = new Map<number, (result: unknown) => void>();
  const handlers = new Map<string, (params: unknown) => void>();
  socket.onmessage = (message: MessageEvent) => {
    const reply = JSON.parse(String(message.data)) as { id?: number; result?: unknown; method?: string; params?: unknown };
    if (reply.id !== undefined) replies.get(reply.id)?.(reply.result);
    else if (reply.method !== undefined) handlers.get(reply.method)?.(reply.params);
  };
  const call: Call = (method, params) =>
    new Promise((resolve) => {
      replies.set(++id, resolve);
      socket.send(JSON.stringify({ id, method, ...(params !== undefined ? { params } : {}) }));
    });
  try {
    return await use(call, (method, handle) => handlers.set(method, handle));
  } finally {
    socket.close();
  }
}

/** The live heap of `pid` in bytes. */
export function liveHeapBytes(pid: number, port: number): Promise<number> {
  return withInspector(pid, port, async (call) => {
    await call('HeapProfiler.collectGarbage');
    const usage = (await call('Runtime.getHeapUsage')) as { usedSize: number };
    return usage.usedSize;
  });
}

export interface HeapGroup {
  /** A constructor's name for objects ("Object" for literals), else the node type: "(string)", "(closure)", "(code)"… */
  name: string;
  count: number;
  /** Their own sizes, not what they keep alive. */
  bytes: number;
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/**
 * A heap snapshot of `pid`, its nodes grouped by constructor (objects) or by type (the rest), largest first; the
 * snapshot itself is written to `saveAs` (for DevTools' Memory panel).
 */
export function heapSummary(pid: number, port: number, saveAs: string): Promise<HeapGroup[]> {
  return withInspector(pid, port, async (call, onEvent) => {
    const chunks: string[] = [];
    onEvent('HeapProfiler.addHeapSnapshotChunk', (params) => chunks.push((params as { chunk: string }).chunk));
    await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    const text = chunks.join('');
    writeFileSync(saveAs, text);
    const snapshot = JSON.parse(text) as HeapSnapshot;
    const fields = snapshot.snapshot.meta.node_fields;
    const types = snapshot.snapshot.meta.node_types[0];
    const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
    const groups = new Map<string, HeapGroup>();
    for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
      const type = types[snapshot.nodes[i + typeAt] ?? 0] ?? '?';
      const name = type === 'object' ? (snapshot.strings[snapshot.nodes[i + nameAt] ?? 0] ?? '?') : `(${type})`;
      const group = groups.get(name) ?? { name, count: 0, bytes: 0 };
      group.count++;
      group.bytes += snapshot.nodes[i + sizeAt] ?? 0;
      groups.set(name, group);
    }
    return [...groups.values()].sort((a, b) => b.bytes - a.bytes);
  });
}
