// Run by controlPlane.test.ts as a separate Node process (native type stripping): starts a control plane,
// prints {pids, stateDir} as one JSON line and idles until killed, to prove nothing outlives an abrupt death.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      throw error;
    }
  },
});

const { startControlPlane } = await import('../../src/devenv/controlPlane.ts');
const plane = await startControlPlane();
process.stdout.write(`${JSON.stringify({ pids: plane.pids, stateDir: plane.stateDir })}\n`);
setInterval(() => undefined, 60_000);
