// Media tests: real Janus and Debian's Chromium inside a network namespace made for the run.
// Run them with `npm run test:media` (scripts/netns-run.sh wraps jest: it needs root); docs/testing.md.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/media'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { isolatedModules: true }],
    // puppeteer-core 25 and its browser-protocol packages ship ES modules only, which jest's
    // CommonJS runtime cannot load: compile them to CommonJS like our own sources.
    '^.+\\.js$': ['ts-jest', { isolatedModules: true, tsconfig: { allowJs: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(puppeteer-core|@puppeteer/browsers|chromium-bidi)/)'],
  // A browser, Janus and a cluster per file: slow to start, and 2 cores run one such file at a time.
  testTimeout: 120_000,
  // Not under TMPDIR: scripts/netns-run.sh gives each run a fresh one, and the compiled puppeteer-core
  // is worth keeping between runs.
  cacheDirectory: '<rootDir>/node_modules/.cache/jest-media',
  maxWorkers: 1,
};
