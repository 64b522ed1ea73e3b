// Copies the non-TypeScript files the compiled controller reads at run time into dist/.
import { cpSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
cpSync(join(root, 'src', 'azure', 'templates'), join(root, 'dist', 'azure', 'templates'), { recursive: true });
cpSync(join(root, 'src', 'simulator', 'contracts', 'derived'), join(root, 'dist', 'simulator', 'contracts', 'derived'), { recursive: true });
