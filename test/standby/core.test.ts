import type { NodeRole, NodeView } from '../../runtime/contract';
import {
  ASSUME_FAULT_AFTER_MS,
  PeerView,
  STORE_MISSES_TO_FAULT,
  TickFacts,
  mediaNodesToFence,
  peerServes,
  planTick,
  storeCaughtUp,
} from '../../runtime/standby/core';
import type { StoreView } from '../../runtime/standby/store';

const OWN = { host: '10.0.1.10', port: 6379 };
const PEER = { host: '10.0.2.10', port: 6379 };
const master = (offset = 100): StoreView => ({ role: 'master', linkUp: true, syncing: false, offset });
const replicaOf = (of: typeof OWN, over: Partial<StoreView> = {}): StoreView => ({
  role: 'replica',
  following: of,
  linkUp: true,
  syncing: false,
  offset: 100,
  ...over,
});
/** The peer as a healthy active node shows itself. */
const activePeer: PeerView = {
  agent: { active: true },
  serviceReady: true,
  runtimeReady: true,
  store: master(),
};
const standbyPeer: PeerView = {
  agent: { active: false },
  serviceReady: false,
  runtimeReady: false,
  store: replicaOf(OWN),
};
const deadPeer: PeerView = { serviceReady: false, runtimeReady: false };
/** The pair link is cut: the peer's agent and store are out of reach, its clients still reach it. */
const cutOffPeer: PeerView = { serviceReady: true, runtimeReady: false };

/** A standby in sync with the active peer, as the tick sees it. */
const standby = (over: Partial<TickFacts> = {}): TickFacts => ({
  node: 'a',
  state: 'BACKUP',
  unreportedMs: 0,
  active: false,
  takingOver: false,
  store: replicaOf(PEER),
  storeMisses: 0,
  peer: activePeer,
  peerStore: PEER,
  ownStore: OWN,
  ...over,
});
/** The active node (it does not look at its peer). */
const active = (over: Partial<TickFacts> = {}): TickFacts =>
  standby({ state: 'MASTER', active: true, store: master(), peer: undefined, ...over });

describe('peerServes', () => {
  test.each<[string, PeerView, boolean]>([
    ['its agent says it is active', activePeer, true],
    ['its agent says it is not, whatever its runtime says', { ...standbyPeer, serviceReady: true }, false],
    ['no agent, runtime ready where clients reach it (the pair link is cut)', cutOffPeer, true],
    [
      'no agent, runtime ready over the pair link (its agent died)',
      { ...deadPeer, runtimeReady: true },
      true,
    ],
    ['nothing answers (the node died)', deadPeer, false],
  ])('%s: %s', (_, peer, serves) => expect(peerServes(peer)).toBe(serves));
});

describe('planTick', () => {
  test('a standby in sync with the active: healthy, caught up, nothing to do', () => {
    expect(planTick(standby())).toEqual({
      assumeFault: false,
      lostAddress: false,
      takeOver: false,
      follow: false,
      caughtUp: true,
      faults: [],
    });
  });

  test('the active keeps the address while the arbiter names it (or cannot tell)', () => {
    for (const holder of ['a', undefined]) {
      expect(planTick(active({ holder }))).toMatchObject({ lostAddress: false, caughtUp: true, faults: [] });
    }
  });

  test.each([['b'], [null]])('the active steps down once the arbiter names another holder (%s)', (holder) => {
    expect(planTick(active({ holder })).lostAddress).toBe(true);
  });

  test('a standby cut off from a peer that serves faults, so keepalived never makes it a second active', () => {
    for (const state of ['BACKUP', 'MASTER'] as const) {
      expect(planTick(standby({ state, peer: cutOffPeer })).faults).toEqual([
        'cannot reach the peer on the pair link, but it serves clients: not taking over',
      ]);
    }
  });

  test('MASTER while the peer’s agent says it serves: VRRP does not reach it (not while taking over)', () => {
    const plan = planTick(standby({ state: 'MASTER' }));
    expect(plan.faults).toEqual([
      'MASTER while the peer serves: VRRP does not reach it (the pair link must pass IP protocol 112)',
    ]);
    expect(plan.takeOver).toBe(false);
    expect(planTick(standby({ state: 'MASTER', takingOver: true })).faults).toEqual([]);
  });

  test('MASTER and not serving with nobody else serving: take over (again)', () => {
    expect(planTick(standby({ state: 'MASTER', peer: deadPeer })).takeOver).toBe(true);
    expect(planTick(standby({ state: 'MASTER', peer: standbyPeer })).takeOver).toBe(true);
    expect(planTick(standby({ state: 'MASTER', peer: deadPeer, takingOver: true })).takeOver).toBe(false);
  });

  test('the peer died: no fault, so the standby can take over', () => {
    expect(planTick(standby({ peer: deadPeer })).faults).toEqual([]);
  });

  test('a standby copies the active’s store, never another standby’s', () => {
    expect(planTick(standby({ store: master() })).follow).toBe(true);
    expect(planTick(standby({ store: replicaOf({ host: '10.9.9.9', port: 6379 }) })).follow).toBe(true);
    expect(planTick(standby({ store: master(), peer: { ...standbyPeer, store: master() } })).follow).toBe(
      false,
    );
    expect(planTick(standby({ store: master(), peer: { ...cutOffPeer } })).follow).toBe(false);
    expect(planTick(standby({ state: 'MASTER', store: master(), peer: standbyPeer })).follow).toBe(false);
  });

  test('caught up: active, a replica of the peer in sync, or the store the peer copies', () => {
    expect(planTick(standby({ store: replicaOf(PEER, { syncing: true }) })).caughtUp).toBe(false);
    expect(planTick(standby({ store: replicaOf(PEER, { linkUp: false }) })).caughtUp).toBe(false);
    expect(planTick(standby({ store: master(), peer: standbyPeer })).caughtUp).toBe(true);
    expect(planTick(standby({ store: master(), peer: { ...standbyPeer, store: master() } })).caughtUp).toBe(
      false,
    );
  });

  test(`the local store faults the node after ${STORE_MISSES_TO_FAULT} ticks without an answer`, () => {
    expect(planTick(standby({ store: undefined, storeMisses: STORE_MISSES_TO_FAULT - 1 })).faults).toEqual(
      [],
    );
    expect(planTick(active({ store: undefined, storeMisses: STORE_MISSES_TO_FAULT })).faults).toEqual([
      'the local session store does not answer',
    ]);
  });

  test('an agent not told its state faults, then assumes FAULT (keepalived was FAULT already)', () => {
    const unknown = standby({ state: undefined, unreportedMs: 100 });
    expect(planTick(unknown)).toMatchObject({
      assumeFault: false,
      faults: ['waiting for keepalived to report this node’s state (the agent restarted)'],
    });
    expect(planTick({ ...unknown, unreportedMs: ASSUME_FAULT_AFTER_MS }).assumeFault).toBe(true);
  });
});

describe('storeCaughtUp (may a new active promote its store now?)', () => {
  test.each<[string, StoreView | undefined, StoreView | undefined, boolean]>([
    ['a master already', master(), master(500), true],
    ['a replica that applied what the peer wrote', replicaOf(PEER, { offset: 500 }), master(500), true],
    ['a replica behind the peer', replicaOf(PEER, { offset: 499 }), master(500), false],
    ['a replica still copying', replicaOf(PEER, { syncing: true, offset: 900 }), master(500), false],
    [
      'a replica whose link is down while the peer’s store answers',
      replicaOf(PEER, { linkUp: false }),
      master(),
      false,
    ],
    [
      'the peer’s store does not answer: nothing more to copy',
      replicaOf(PEER, { linkUp: false }),
      undefined,
      true,
    ],
    ['the peer’s store is no master: nothing more to copy', replicaOf(PEER), replicaOf(OWN), true],
  ])('%s: %s', (_, store, peer, ok) => expect(storeCaughtUp(store, peer)).toBe(ok));
});

describe('mediaNodesToFence', () => {
  const node = (nodeId: string, role: NodeRole, expired = false): NodeView => ({
    identity: { nodeId, role, instanceId: nodeId, address: `${nodeId}:9090`, version: '1', startedAt: 0 },
    lastHeartbeatAt: 1_000,
    heartbeatAgeMs: expired ? 60_000 : 500,
    expired,
  });

  test('every media node but this node’s own: the old active’s, live or not; masters are no media', () => {
    const nodes = [
      node('media-a', 'media'),
      node('media-b', 'media'),
      node('media-old', 'media', true),
      node('master-a', 'master'),
    ];
    expect(mediaNodesToFence(nodes, 'media-b')).toEqual(['media-a', 'media-old']);
  });

  test('only its own media node, or none: nothing to fence', () => {
    expect(mediaNodesToFence([node('media-b', 'media')], 'media-b')).toEqual([]);
    expect(mediaNodesToFence([], 'media-b')).toEqual([]);
  });
});
