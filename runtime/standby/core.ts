/**
 * The standby agent's decisions, pure (runtime/standby/agent.ts carries them out). keepalived elects
 * the active node and tells the agent; the agent decides what that means for the serve lease, the
 * session store's role and keepalived's own checks, from what it sees each tick.
 */
import type { NodeView } from '../contract';
import { STANDBY_DEFAULTS } from './defaults';
import type { VrrpState } from './keepalived';
import type { StoreView } from './store';

/** What the agent sees of its peer (only a node that is not active looks). */
export interface PeerView {
  /** The peer's agent, over the pair link; undefined when it does not answer. */
  readonly agent?: { readonly active: boolean };
  /** The peer's runtime answers ready where clients reach it (its service URL). */
  readonly serviceReady: boolean;
  /** The peer's runtime answers ready over the pair link. */
  readonly runtimeReady: boolean;
  /** The peer's store, when it answers. */
  readonly store?: StoreView;
}

/**
 * Whether the peer serves clients. Its agent knows (it revokes the runtime's lease before it says
 * so); without an answer from it (dead, hung, or the pair link is cut), whether its runtime answers
 * ready, seen from the clients' side or over the link.
 */
export function peerServes(peer: PeerView): boolean {
  return peer.agent ? peer.agent.active : peer.serviceReady || peer.runtimeReady;
}

/** One tick's facts. */
export interface TickFacts {
  readonly node: string;
  /** The last state keepalived reported; undefined until it reports one. */
  readonly state?: VrrpState;
  /** How long the agent has run without a report (0 once it has one). */
  readonly unreportedMs: number;
  /** This node took over and serves (until it steps down). */
  readonly active: boolean;
  /** A takeover is under way (waiting for the peer to stop, for the store to catch up). */
  readonly takingOver: boolean;
  /** The arbiter's answer this tick: a node, null for nobody, undefined when not asked or unknown. */
  readonly holder?: string | null;
  /** The local store, when it answers. */
  readonly store?: StoreView;
  /** Ticks in a row the local store did not answer, this one included. */
  readonly storeMisses: number;
  /** Undefined while active: the active does not look at its peer. */
  readonly peer?: PeerView;
  /** Where the peer's store listens (what this store follows), and where this one does for the peer. */
  readonly peerStore: { readonly host: string; readonly port: number };
  readonly ownStore: { readonly host: string; readonly port: number };
}

export interface TickPlan {
  /**
   * No report since the agent started, though its failing check must have made keepalived FAULT by
   * now: keepalived was FAULT already (no transition, no report), so FAULT it is.
   */
  readonly assumeFault: boolean;
  /** The arbiter names another holder: step down (stop serving). */
  readonly lostAddress: boolean;
  /** keepalived made this node MASTER and it does not serve yet, nor refuses to: take over (again). */
  readonly takeOver: boolean;
  /** Make the local store a replica of the peer's (a standby copies the active's store). */
  readonly follow: boolean;
  /** keepalived's weight: active, or a replica in sync with the active. */
  readonly caughtUp: boolean;
  /** Why keepalived's rtc_agent check fails (the node faults); empty when it passes. */
  readonly faults: readonly string[];
}

/** Ticks in a row without an answer from the local store before the node faults (one may be a blip). */
export const STORE_MISSES_TO_FAULT = 2;

/** keepalived runs the agent's check within an interval and faults at the first failure; three is ample. */
export const ASSUME_FAULT_AFTER_MS = 3 * STANDBY_DEFAULTS.checkIntervalS * 1_000;

export function planTick(f: TickFacts): TickPlan {
  const lostAddress = f.active && f.holder !== undefined && f.holder !== f.node;
  const active = f.active && !lostAddress;
  const faults: string[] = [];
  if (f.state === undefined)
    faults.push('waiting for keepalived to report this node’s state (the agent restarted)');
  if (!active && f.peer && peerServes(f.peer)) {
    // Taking over from a peer that serves would make a second active and split the store.
    if (!f.peer.agent)
      faults.push('cannot reach the peer on the pair link, but it serves clients: not taking over');
    else if (f.state === 'MASTER' && !f.takingOver) {
      faults.push(
        'MASTER while the peer serves: VRRP does not reach it (the pair link must pass IP protocol 112)',
      );
    }
  }
  if (f.storeMisses >= STORE_MISSES_TO_FAULT) faults.push('the local session store does not answer');
  return {
    assumeFault: f.state === undefined && f.unreportedMs >= ASSUME_FAULT_AFTER_MS,
    lostAddress,
    takeOver: f.state === 'MASTER' && !active && !f.takingOver && faults.length === 0,
    // A standby copies the active's store, never another standby's: at boot both are empty masters,
    // and each copying the other would go round in a circle.
    follow:
      f.state !== 'MASTER' &&
      !active &&
      f.store !== undefined &&
      f.peer?.agent?.active === true &&
      f.peer.store?.role === 'master' &&
      !follows(f.store, f.peerStore),
    caughtUp: f.state === 'MASTER' || (follows(f.store, f.peerStore) && inSync(f.store)) || copiedByPeer(f),
    faults,
  };
}

/**
 * This node's store is the one the peer's copies: it stepped down, and nobody took over yet (both
 * nodes faulted at once, say). It holds the newest data, so it should win the next election.
 */
function copiedByPeer(f: TickFacts): boolean {
  return f.store?.role === 'master' && follows(f.peer?.store, f.ownStore) && inSync(f.peer?.store);
}

/**
 * Whether a new active may promote its store now: the store has everything the peer's had when last
 * read, or there is nothing more to copy (no live master to copy from, or it is a master already).
 */
export function storeCaughtUp(store: StoreView | undefined, peerStore: StoreView | undefined): boolean {
  if (!store || store.role === 'master') return true;
  if (!peerStore || peerStore.role !== 'master') return true;
  return inSync(store) && store.offset >= peerStore.offset;
}

function follows(store: StoreView | undefined, peer: { host: string; port: number }): boolean {
  return (
    store?.role === 'replica' && store.following?.host === peer.host && store.following.port === peer.port
  );
}

function inSync(store: StoreView | undefined): boolean {
  return store !== undefined && store.linkUp && !store.syncing;
}

/**
 * The media nodes a new active fences once its store takes writes: every one the store lists but this
 * node's own media agent. Each node's media agent registers in its own node's store, and only the
 * active's store takes writes, so any other media node it lists is the old active's, replicated: its
 * last heartbeat would read fresh for a TTL more, and the masters would keep rooms on it while the
 * clients' media reaches this node through the address.
 */
export function mediaNodesToFence(nodes: readonly NodeView[], ownMediaNode: string): string[] {
  return nodes
    .filter((n) => n.identity.role === 'media' && n.identity.nodeId !== ownMediaNode)
    .map((n) => n.identity.nodeId);
}
