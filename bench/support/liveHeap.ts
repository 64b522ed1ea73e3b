// The controller's live heap: what is left after a full garbage collection, read over the V8 inspector.
// Peak RSS says how much memory the process took; V8 grows its heap lazily up to a limit it derives from the
// memory it sees (about half of a container's memory limit), so only the live heap says how much a fleet needs.

interface InspectorTarget {
  webSocketDebuggerUrl?: string;
}

/** Opens the inspector of `pid` (started with --inspect-port=`port`) with SIGUSR1 and returns the live heap in bytes. */
export async function liveHeapBytes(pid: number, port: number): Promise<number> {
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
  socket.onmessage = (message: MessageEvent) => {
    const reply = JSON.parse(String(message.data)) as { id?: number; result?: unknown };
    if (reply.id !== undefined) replies.get(reply.id)?.(reply.result);
  };
  const call = (method: string): Promise<unknown> =>
    new Promise((resolve) => {
      replies.set(++id, resolve);
      socket.send(JSON.stringify({ id, method }));
    });
  try {
    await call('HeapProfiler.collectGarbage');
    const usage = (await call('Runtime.getHeapUsage')) as { usedSize: number };
    return usage.usedSize;
  } finally {
    socket.close();
  }
}
