// Empties dist/ before a build: tsc only adds and overwrites, so a module removed from src/ (or a test double
// moved out of it) would otherwise stay in the shipped build.
import { rmSync } from 'node:fs';
import { join } from 'node:path';

rmSync(join(import.meta.dirname, '..', 'dist'), { recursive: true, force: true });
