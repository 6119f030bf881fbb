/** The media agent's Janus: configuration, supervised child, API clients, load figures (see ../README.md, "Janus"). */
export { JanusAdmin } from './admin';
export type { HandleInfo, ServerInfo } from './admin';
export { JanusClient, JanusSession, VideoRoomHandle } from './client';
export type { HandleEvent, IceCandidate, JanusClientOptions, Jsep, Joined, RoomOptions } from './client';
export { debianJanusLibDir, janusConfig, janusSpecProblems, newJanusSecret } from './config';
export type { JanusSpec } from './config';
export { JanusError } from './connection';
export type { JanusLoad } from './load';
export { DEFAULT_RESTART_POLICY } from './restart';
export type { RestartPolicy } from './restart';
export { JanusSupervisor } from './supervisor';
export type { JanusEvent, JanusSupervisorOptions } from './supervisor';
