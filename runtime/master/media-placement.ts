import type Redis from 'ioredis';
import { MediaNodeSummary, NodeView, RegistryReader, SessionStore } from '../contract';
import type { Logger } from '../node/log';

/**
 * Which media node serves a session: the least loaded ready one when the session is created, and
 * another one when its node dies. Every master checks on each heartbeat for expired media nodes
 * that still have sessions; a short per-node lock (SET NX PX) lets one master move them, and
 * `replaceMediaNode` is conditional, so a session moves once even if two masters race.
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

  /** The media node for a new session, or undefined when none is ready (503 no_media_node). */
  async forNewSession(): Promise<MediaNodeSummary | undefined> {
    const node = await this.registry.leastLoadedMedia();
    return node && summary(node);
  }

  /** Moves the sessions of expired media nodes and tells their participants (mediaNodeChanged). */
  async replaceExpired(): Promise<void> {
    for (const dead of (await this.registry.nodes('media')).filter((n) => n.expired)) {
      const deadId = dead.identity.nodeId;
      const sessions = await this.store.sessionsOnMediaNode(deadId);
      if (sessions.length === 0) continue;
      const lock = this.store.keys.mediaReplacementLock(deadId);
      if ((await this.redis.set(lock, this.nodeId, 'PX', this.lockMs, 'NX')) !== 'OK') continue;
      await this.move(deadId, sessions);
    }
  }

  private async move(deadId: string, sessions: string[]): Promise<void> {
    let moved = 0;
    for (const sessionId of sessions) {
      // Asked per session: the registry's load lags a heartbeat behind, see runtime/master/README.md.
      const next = await this.registry.leastLoadedMedia([deadId]);
      if (!next) {
        // Keep them on the dead node's index: a later tick moves them once a media node is ready.
        this.log.warn('media_replacement_pending', { deadNode: deadId, sessions: sessions.length - moved });
        return;
      }
      const mediaNode = summary(next);
      if (!(await this.store.replaceMediaNode(sessionId, deadId, mediaNode))) continue;
      await this.store.deliverToOthers(sessionId, undefined, { type: 'mediaNodeChanged', mediaNode });
      moved++;
      this.log.info('media_node_replaced', { sessionId, deadNode: deadId, mediaNode: mediaNode.nodeId });
    }
  }
}

function summary(node: NodeView): MediaNodeSummary {
  return { nodeId: node.identity.nodeId, address: node.identity.publicAddress ?? node.identity.address };
}
