// Tests are ESM TypeScript compiled by swc; the e2e project shares one real control plane per run.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } }],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform,
  testEnvironment: 'node',
};

export default {
  // Per-project testTimeout is ignored by jest: e2e tests wait on real processes, so the limit is global.
  testTimeout: 120000,
  reporters: ['default', '<rootDir>/test/support/summaryReporter.cjs'],
  // Global, not per project: the order of all test files, with the secrets scan last.
  testSequencer: '<rootDir>/test/support/reliabilitySequencer.cjs',
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'] },
    // Simulator conformance: real Azure SDK clients against the in-process simulator, no control plane.
    { ...common, displayName: 'simulator', testMatch: ['<rootDir>/test/simulator/**/*.test.ts'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/globalSetup.ts',
      globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
    },
    // Hostile input, hung devices and tenant isolation (docs/RELIABILITY.md, "Security"); shares the e2e control plane.
    {
      ...common,
      displayName: 'security',
      testMatch: ['<rootDir>/test/security/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/globalSetup.ts',
      globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
    },
    // Fault tolerance at larger counts (docs/RELIABILITY.md); shares the e2e control plane (same globalSetup).
    {
      ...common,
      displayName: 'reliability',
      testMatch: ['<rootDir>/test/reliability/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/globalSetup.ts',
      globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
    },
  ],
};
