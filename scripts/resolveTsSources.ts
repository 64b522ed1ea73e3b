// Imported first by scripts, benches and test helpers that run src/ from source (Node's type stripping, or
// jest's global setup, which loads modules without its moduleNameMapper): src/ imports its `.ts` files with
// NodeNext `.js` specifiers, so a `.js` specifier that does not resolve is retried as `.ts`.
// Modules of src/ must be imported after this one, with dynamic import().
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
