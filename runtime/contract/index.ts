/** The HA contract shared by every runtime piece (docs/contract.md). */
export * from './env';
export * from './json';
export * from './keys';
export * from './media-control';
export * from './messages';
export * from './redis';
export * from './registry';
export * from './sessions';
export * from './timings';
export * from './tls';
export * from './tokens';
export * from './turn';
