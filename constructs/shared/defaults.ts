/**
 * Defaults shared by more than one construct and by the deployment config, so that each has exactly
 * one source. Timings follow docs/architecture.md ("Default timings").
 */

/** Port of the signaling master (HTTP + WebSocket, `/live` and `/ready`). */
export const MASTER_PORT = 8080;

/** Control and health port of the media agent (`/live` and `/ready`). */
export const MEDIA_CONTROL_PORT = 9090;

/** How long a draining node may keep its sessions before it exits (docs/architecture.md rule 6). */
export const DRAIN_DEADLINE_MS = 30_000;

/** Prefix of every registry key the runtime writes. */
export const KEY_PREFIX = 'rtc';

/** Auto Scaling health check grace period: a booting node has no heartbeat yet. */
export const HEALTH_CHECK_GRACE_SECONDS = 120;
