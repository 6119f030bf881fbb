import type Redis from 'ioredis';
import {
  MediaNodeSummary,
  NodeView,
  RegistryReader,
  SessionStore,
  TurnIceServer,
  turnCredentials,
  turnIceServer,
} from '../contract';
import type { Logger } from '../node/log';

/**
 * Which media node serves a session: the least loaded ready one when the session is created, and
 * another one when its node dies, each time with a place reserved atomically under the node's
 * capacity (RegistryReader.reserveMedia), so a burst of creates never overfills a node. Every
 * master checks on each heartbeat for expired media nodes that still have sessions; a short
 * per-node lock (SET NX PX) lets one master move them, and `replaceMediaNode` is conditional, so a
 * session moves once even if two masters race.
 */
export class MediaPlacement {
  constructor(
    private readonly redis: Redis,
    private readonly store: SessionStore,
    private readonly registry: RegistryReader,
    private readonly nodeId: string,
    /** How long one master holds a dead node's sessions before another may try. */
    private readonly lockMs: number,
    private readonly log: Logger,
  ) {}

  /**
   * Reserves a media node for a new session, or undefined when no ready one has room (503
   * no_media_node). The session's deletion (or the sweeper) releases it.
   */
  async forNewSession(sessionId: string): Promise<MediaNodeSummary | undefined> {
    const node = await this.registry.reserveMedia(sessionId);
    return node && mediaNodeSummaryOf(node);
  }

  /** Gives back a reservation the session did not take (it existed already elsewhere). */
  release(sessionId: string, mediaNodeId: string): Promise<void> {
    return this.registry.releaseMedia(sessionId, mediaNodeId);
  }

  /**
   * Moves the sessions of expired media nodes, and of draining ones make-before-break (the drain's
   * backstop: the agent also tells every master with a control channel at once), and tells their
   * participants (mediaNodeChanged).
   */
  async replaceExpired(): Promise<void> {
    for (const node of await this.registry.nodes('media')) {
      const handover = node.live?.state === 'draining';
      if (!node.expired && !handover) continue;
      const nodeId = node.identity.nodeId;
      const sessions = await this.store.sessionsOnMediaNode(nodeId);
      if (sessions.length === 0) continue;
      const lock = this.store.keys.mediaReplacementLock(nodeId);
      if ((await this.redis.set(lock, this.nodeId, 'PX', this.lockMs, 'NX')) !== 'OK') continue;
      await moveMediaSessions(this.store, this.registry, nodeId, sessions, this.log, { handover });
    }
  }
}

export interface MoveOptions {
  /** No other node has room: rebuild the sessions on `deadId` (its Janus restarted empty). */
  readonly inPlace?: MediaNodeSummary;
  /** `deadId` drains and still carries the media: its participants switch make-before-break. */
  readonly handover?: boolean;
}

/**
 * Moves each of `sessions` off media node `deadId` to the ready media node with the most room
 * (reserved there first) and tells its participants (mediaNodeChanged): safe to run on several
 * masters at once, `replaceMediaNode` is conditional. `inPlace`: when no other node has room, the
 * sessions stay on `deadId` and hear mediaNodeChanged naming it (its Janus restarted empty: the
 * participants publish and subscribe again there). `handover`: `deadId` drains, the participants
 * switch make-before-break. Returns how many moved (or were rebuilt).
 */
export async function moveMediaSessions(
  store: SessionStore,
  registry: RegistryReader,
  deadId: string,
  sessions: readonly string[],
  log: Logger,
  how: MoveOptions = {},
): Promise<number> {
  const { inPlace, handover } = how;
  // No TURN credentials in the mailboxes: each master adds its participant's own on the way out.
  const changed = (mediaNode: MediaNodeSummary) => ({
    type: 'mediaNodeChanged' as const,
    mediaNode,
    ...(handover && { handover }),
  });
  let moved = 0;
  for (const sessionId of sessions) {
    const next = await registry.reserveMedia(sessionId, [deadId]);
    if (!next) {
      if (inPlace) {
        const now = await store.getSession(sessionId);
        if (now?.mediaNode?.nodeId !== deadId) continue;
        await store.deliverToOthers(sessionId, undefined, changed(inPlace));
        moved++;
        log.info('media_room_rebuilt_in_place', { sessionId, mediaNode: deadId });
        continue;
      }
      // Keep them on the node's index: a later tick moves them once a media node has room.
      log.warn('media_replacement_pending', { deadNode: deadId, sessions: sessions.length - moved });
      return moved;
    }
    const mediaNode = mediaNodeSummaryOf(next);
    if (!(await store.replaceMediaNode(sessionId, deadId, mediaNode))) {
      // Moved by another master or ended: keep the place only if it is the session's now.
      const now = await store.getSession(sessionId);
      if (now?.mediaNode?.nodeId !== mediaNode.nodeId)
        await registry.releaseMedia(sessionId, mediaNode.nodeId);
      continue;
    }
    await store.deliverToOthers(sessionId, undefined, changed(mediaNode));
    moved++;
    log.info('media_node_replaced', { sessionId, from: deadId, mediaNode: mediaNode.nodeId, handover });
  }
  return moved;
}

export function mediaNodeSummaryOf(node: NodeView): MediaNodeSummary {
  return { nodeId: node.identity.nodeId, address: node.identity.publicAddress ?? node.identity.address };
}

/** TURN as the masters hand it out: the secret shared with the media nodes, and how clients reach it. */
export interface MasterTurn {
  readonly secret: string;
  readonly port: number;
  /** The name the nodes' TLS certificate covers (TurnEndpoint.tlsHost); no `turns:` without it. */
  readonly tlsHost?: string;
}

/**
 * `{ iceServers }` for a frame naming `mediaNode`: fresh credentials (for `id`, a participant) for
 * that node's TURN server; nothing without TURN or without a node.
 */
export function withIceServers(
  turn: MasterTurn | undefined,
  mediaNode: MediaNodeSummary | null | undefined,
  id: string,
): { iceServers?: TurnIceServer[] } {
  if (!turn || !mediaNode) return {};
  const endpoint = { host: mediaNode.address, port: turn.port, tlsHost: turn.tlsHost };
  return { iceServers: [turnIceServer(endpoint, turnCredentials(turn.secret, id))] };
}
