/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Media tests need root and a network namespace: `npm run test:media` runs them (jest.media.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/media/'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
  // Integration tests start real redis-server / haproxy / node processes; give them room.
  testTimeout: 60_000,
  // Two cores: more workers than that only makes the process-heavy tests flaky.
  maxWorkers: 2,
  snapshotSerializers: ['<rootDir>/test/support/asset-hash-serializer.js'],
};
