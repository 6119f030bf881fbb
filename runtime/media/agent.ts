import { Keys } from '../contract';
import { untilEmptyOrDeadline } from '../node/drain';
import { createLogger, Logger } from '../node/log';
import { NodeHandle, NodeRuntime } from '../node/runtime';
import type { MediaConfig } from './config';

/**
 * A running media agent. `drain()` (SIGTERM): not ready and `draining` at once (masters place no
 * new session here); resolves once no session is placed here any more, or at the drain deadline,
 * after stopping. Past the deadline with sessions left, it stays in the registry so that it
 * expires and the masters move those sessions to another media node.
 */
export type MediaAgentHandle = NodeHandle;

/**
 * The media agent (see README.md): it registers this node's media capacity and load, heartbeats,
 * and answers /live and /ready. It does not forward media yet.
 */
export async function startMediaAgent(
  config: MediaConfig,
  log: Logger = createLogger(config.nodeId),
): Promise<MediaAgentHandle> {
  const runtime = new NodeRuntime(config, 'media', log);
  const placed = new Keys(config.keyPrefix).mediaSessions(config.nodeId);
  const sessionsPlaced = () => runtime.redis.scard(placed);

  await runtime.start({
    load: async () => ({ sessions: await sessionsPlaced(), connections: 0, capacity: config.capacity }),
    publicAddress: config.publicAddress ?? hostOf(config.advertiseAddress) ?? '127.0.0.1',
  });

  return runtime.handle({
    drain: async () => {
      runtime.startDraining();
      const outcome = await untilEmptyOrDeadline(
        async () => (await sessionsPlaced()) === 0,
        config.drainDeadlineMs,
        config.heartbeatIntervalMs,
      );
      log.info('drain_done', { outcome });
      await runtime.shutdown({ deregister: outcome === 'empty' });
    },
    close: () => runtime.shutdown({ deregister: true }),
  });
}

function hostOf(address: string | undefined): string | undefined {
  return address?.replace(/:\d+$/, '');
}
