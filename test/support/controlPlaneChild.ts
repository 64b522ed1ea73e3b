// Run by controlPlane.test.ts as a separate Node process (native type stripping): starts a control plane,
// prints {pids, stateDir} as one JSON line and idles until killed, to prove nothing outlives an abrupt death.
import '../../scripts/resolveTsSources.ts';

const { startControlPlane } = await import('../../src/devenv/controlPlane.ts');
const plane = await startControlPlane();
process.stdout.write(`${JSON.stringify({ pids: plane.pids, stateDir: plane.stateDir })}\n`);
setInterval(() => undefined, 60_000);
