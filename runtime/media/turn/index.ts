/** The media node's TURN server (coturn): its configuration and the supervised child. */
export { TURN_REALM, TURN_USER_QUOTA, turnConfig } from './config';
export type { TurnSpec } from './config';
export { startTurnRelay } from './relay';
export type { TurnRelay, TurnRelayOptions, TurnSettings } from './relay';
