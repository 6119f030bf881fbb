import { Keys, DEFAULT_TIMINGS, MediaRequest, MediaRequestError } from '../contract';
import { untilEmptyOrDeadline } from '../node/drain';
import { createLogger, Logger } from '../node/log';
import { NodeHandle, NodeRuntime } from '../node/runtime';
import type { MediaConfig } from './config';
import { ControlServer } from './control-server';
import { startLoadMetric } from './load-metric';
import { MediaNode } from './media-node';
import { startTurnRelay, type TurnRelay } from './turn';

/**
 * A running media agent. `drain()` (SIGTERM, the termination lifecycle hook): not ready and
 * `draining` at once (masters place no new session here) and it tells the masters, who move each
 * session to another node make-before-break (mediaNodeChanged with handover: the participants
 * switch while this node still carries their media). It resolves once no session is placed here
 * and no room is left, or at the drain deadline, after stopping. Past the deadline with sessions
 * left, it stays in the registry so that it expires and the masters move those sessions anyway.
 */
export type MediaAgentHandle = NodeHandle;

/**
 * The media agent (see README.md): it registers this node's media capacity and load, heartbeats,
 * answers /live and /ready, runs Janus and carries out the masters' media requests that arrive
 * on its control channel. With Janus off it still registers (sessions can be placed on it for
 * signaling) but answers every media request with media_unavailable.
 */
export async function startMediaAgent(
  config: MediaConfig,
  log: Logger = createLogger(config.nodeId),
): Promise<MediaAgentHandle> {
  const runtime = new NodeRuntime(config, 'media', log);
  const keys = new Keys(config.keyPrefix);
  const placed = keys.mediaSessions(config.nodeId);
  const sessionsPlaced = () => runtime.redis.scard(placed);

  let media: MediaNode | undefined;
  const control = new ControlServer({
    nodeId: config.nodeId,
    secret: config.controlSecret,
    execute: (request) => {
      if (!media) return Promise.reject(janusOff());
      return request.op === 'check' ? media.check(request) : media.rooms.run(request);
    },
    log,
  });
  if (config.janus === 'on') {
    media = await MediaNode.start(
      config,
      (event) => control.push(event),
      log,
      // Lost: to every master (each can move the rooms, the registry lets one win); restarted: to one.
      (state, reason) =>
        control.tellMasters({ type: 'janus', state, ...(reason && { reason }) }, state === 'lost'),
    );
  } else {
    log.warn('janus_off', {
      reason: config.iceAddress ? 'RTC_JANUS=off' : 'RTC_MEDIA_ICE_ADDRESS unset',
      effect: 'this media node carries no media: media requests get media_unavailable',
    });
  }
  // TURN relays to this node's Janus only: it runs beside it (config.turn is set only then).
  const turn: TurnRelay | undefined = config.turn && (await startTurnRelay(config.turn, log));
  runtime.server.on('upgrade', (req, socket, head) => control.handleUpgrade(req, socket, head));
  const forgetLeft =
    media && setInterval(() => void dropDeparted(), DEFAULT_TIMINGS.mediaReconcileIntervalMs);
  /** While draining: session -> when it was first seen moved away (its handover under way). */
  const handedOver = new Map<string, number>();
  let draining = false;

  /**
   * Participants the registry no longer has (removed, swept, session deleted) lose their media
   * here, and so do sessions no longer placed here (moved to another media node while this one
   * was thought dead: stopped, say): their rooms go without a word to the room. While draining,
   * a moved room still carries the media its participants switch away from (make-before-break):
   * it goes once its publishers left it (their subscribers switched before), or
   * mediaHandoverGraceMs after the move.
   */
  async function dropDeparted(): Promise<void> {
    const known = media?.rooms.participants() ?? [];
    const sessions = media?.rooms.sessions() ?? [];
    if (known.length === 0 && sessions.length === 0) return;
    const pipeline = runtime.redis.pipeline();
    for (const sessionId of sessions) pipeline.sismember(placed, sessionId);
    for (const p of known) pipeline.exists(keys.participant(p.sessionId, p.participantId));
    const replies = await pipeline.exec().catch(() => null);
    if (!replies || !media) return; // Redis away: nothing is known to be gone
    const movedAway = new Set<string>();
    sessions.forEach((sessionId, i) => {
      const [err, member] = replies[i] ?? [];
      if (err || member !== 0 || !media) return;
      movedAway.add(sessionId);
      if (draining) {
        const since = handedOver.get(sessionId) ?? Date.now();
        handedOver.set(sessionId, since);
        // Subscribers here receive nothing once the publishers left (switched): they go too.
        const handingOver = Date.now() - since < DEFAULT_TIMINGS.mediaHandoverGraceMs;
        if (handingOver && media.rooms.publishing(sessionId)) return;
      }
      log.info('media_session_moved_away', { sessionId });
      void media.rooms.moved(sessionId);
    });
    known.forEach((p, i) => {
      const [err, exists] = replies[sessions.length + i] ?? [];
      if (err || !media) return;
      if (movedAway.has(p.sessionId)) return control.forget(p.sessionId, p.participantId);
      if (exists !== 0) return;
      log.info('media_participant_departed', p);
      control.forget(p.sessionId, p.participantId);
      const leave: MediaRequest = { op: 'leave', ...p };
      media.rooms.run(leave).catch((error: unknown) => log.warn('media_leave_failed', { ...p, error }));
    });
  }

  await runtime.start({
    load: async () => {
      const sessions = await sessionsPlaced();
      const load = await media?.load(sessions, config.capacity);
      // A relay that is down: no new session here (its relay-only clients could not connect).
      const relayDown = (turn?.readiness().length ?? 0) > 0;
      return {
        sessions,
        connections: load ? load.publishers + load.subscribers : 0,
        capacity: config.capacity,
        ...(load && { media: relayDown ? { ...load, headroom: 0 } : load }),
      };
    },
    readiness: () => [...(media?.readiness() ?? []), ...(turn?.readiness() ?? [])],
    publicAddress: config.publicAddress ?? hostOf(config.advertiseAddress) ?? '127.0.0.1',
  });
  const loadMetric = startLoadMetric(config, runtime.redis, log); // on AWS only: the media fleet scales on it

  const stop = async (deregister: boolean) => {
    clearInterval(forgetLeft);
    loadMetric?.stop();
    control.close();
    await Promise.all([media?.stop(), turn?.stop()]);
    await runtime.shutdown({ deregister });
  };
  return runtime.handle({
    drain: async () => {
      draining = true;
      runtime.startDraining();
      // Every master moves the sessions make-before-break at once; their heartbeats are the backstop.
      control.tellMasters({ type: 'draining' }, true);
      const outcome = await untilEmptyOrDeadline(
        async () => {
          await dropDeparted();
          return (await sessionsPlaced()) === 0 && (media?.rooms.sessions().length ?? 0) === 0;
        },
        config.drainDeadlineMs,
        config.heartbeatIntervalMs,
      );
      log.info('drain_done', { outcome });
      await stop(outcome === 'empty');
    },
    close: () => stop(true),
  });
}

function janusOff(): MediaRequestError {
  return new MediaRequestError('media_unavailable', 'this media node runs without Janus (RTC_JANUS=off)');
}

function hostOf(address: string | undefined): string | undefined {
  return address?.replace(/:\d+$/, '');
}
