/**
 * rtc-ha's constructs. {@link RtcHaCluster} is the whole cluster for a stack of your own; the others are
 * its parts, each usable alone.
 */
export * from './cluster';
export * from './alarms';
export * from './fleet-watchdog';
export * from './master-fleet';
export * from './media-fleet';
export * from './network';
export * from './node-fleet';
export * from './node-image';
export * from './node-software';
export * from './session-store-cluster';
export * from './signaling-load-balancer';
export { ValidationProblems } from './shared/problems';
