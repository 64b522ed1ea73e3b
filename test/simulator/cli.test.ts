// `gpuvm-controller simulate`: prints endpoints, credentials file and CA path, serves until SIGINT.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { main } from '../../src/simulator/cli.js';
import { RawClient } from './raw.js';

describe('simulate command', () => {
  it('runs from a YAML config until SIGINT', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sim-cli-'));
    const writes: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      await writeFile(join(dir, 'sim.yaml'), 'devices:\n  - {name: edge-1, gpus: 1, kubernetes: true}\ntimings: {vmCreateMs: 0}\n');
      const running = main(['--config', join(dir, 'sim.yaml'), '--state-dir', join(dir, 'state')]);
      for (let i = 0; i < 200 && !writes.join('').includes('Ctrl-C'); i++) await new Promise((r) => setTimeout(r, 25));
      const out = writes.join('');
      expect(out).toMatch(/device edge-1 \(1 GPU/);
      expect(out).toContain(`credentials file:   ${join(dir, 'state', 'credentials.json')}`);
      expect(out).toContain(`CA certificate:     ${join(dir, 'state', 'ca.pem')}`);
      const credentials = JSON.parse(await readFile(join(dir, 'state', 'credentials.json'), 'utf8')) as { devices: { armEndpoint: string; password: string }[] };
      const ca = await readFile(join(dir, 'state', 'ca.pem'), 'utf8');
      const raw = new RawClient(ca);
      const oidc = await raw.request(`${credentials.devices[0]?.armEndpoint}/adfs/.well-known/openid-configuration`, 'GET');
      raw.close();
      expect(oidc.status).toBe(200);
      process.emit('SIGINT');
      expect(await running).toBe(0);
    } finally {
      spy.mockRestore();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a bad config with a message naming the field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sim-cli-'));
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await writeFile(join(dir, 'bad.yaml'), 'devices: [{name: x, gpus: 5}]\n');
      expect(await main(['--config', join(dir, 'bad.yaml')])).toBe(2);
      expect(String(spy.mock.calls[0]?.[0])).toMatch(/devices\[0\]\.gpus/);
      expect(await main(['--bogus'])).toBe(2);
    } finally {
      spy.mockRestore();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
