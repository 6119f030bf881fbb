import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathOf, sendError, sendJson } from '../node/http';
import type { Logger } from '../node/log';
import type { AddressArbiter } from './address';
import { PeerView, peerServes, planTick, storeCaughtUp } from './core';
import { STANDBY_DEFAULTS } from './defaults';
import { AgentPaths, VRRP_STATES, VrrpState } from './keepalived';
import { REVOKED, grantLease, writeLease } from './lease';
import { probe } from './probe';
import { runtimeUrl, StandbySettings } from './settings';
import type { Store } from './store';

export interface AgentDeps {
  readonly settings: StandbySettings;
  readonly paths: AgentPaths;
  readonly arbiter: AddressArbiter;
  /** This node's store (127.0.0.1) and the peer's (over the pair link). */
  readonly store: Store;
  readonly peerStore: Store;
  readonly log: Logger;
}

/** The agent's status on the pair link: what the peer's agent asks before it serves. */
export interface AgentStatus {
  readonly node: string;
  readonly state?: VrrpState;
  readonly active: boolean;
}

const POLL_MS = 100;

/**
 * The standby agent: one per node, beside keepalived, the master runtime and the node's store. It
 * does what keepalived's state changes mean (notify hooks POST them to its control socket) and
 * reconciles every tick (core.ts decides):
 *
 * - MASTER: take over. Wait for the peer to stop serving (a peer that still serves after one lease is
 *   one VRRP does not reach: refuse), wait (bounded) for the local store to hold what the peer's
 *   has, promote it (REPLICAOF NO ONE), remove the old active's media registration from it, claim
 *   the address (the Elastic IP), grant the runtime its serve lease.
 * - BACKUP, FAULT, STOP: stop serving at once (revoke the lease: the runtime closes its clients'
 *   sockets and they resume at the new active); the tick then makes the store a replica of the
 *   peer's once the peer's is the master.
 * - Every tick: renew the lease while active; step down if the arbiter names another holder; write
 *   the caught-up weight; fault (keepalived's /check) while cut off from a peer that serves.
 */
export class StandbyAgent {
  private state?: VrrpState;
  private active = false;
  private takingOver = false;
  /** Bumped by every state change: a takeover under way stops at its next step when it moves. */
  private generation = 0;
  private takeovers: Promise<void> = Promise.resolve();
  private faults: readonly string[] = ['starting'];
  private storeMisses = 0;
  private lastHolderCheck = 0;
  private leaseWritten?: 'granted' | 'revoked';
  /** A step-down pausing the store's writes: the node counts as active until the pause holds. */
  private fencing?: Promise<void>;
  private stopped = false;
  private startedAt = Date.now();
  private loop?: Promise<void>;
  private readonly control: Server;
  private readonly status: Server;

  constructor(private readonly deps: AgentDeps) {
    this.control = createServer((req, res) => this.onControl(req, res));
    this.status = createServer((req, res) => this.onStatus(req, res));
  }

  /** Listens on the control socket and the status port, then ticks until stop(). */
  async start(): Promise<void> {
    const { settings, paths } = this.deps;
    rmSync(paths.socket, { force: true }); // left by a crashed agent
    await listen(this.control, { path: paths.socket });
    chmodSync(paths.socket, 0o600); // state changes come from root's keepalived only
    await listen(this.status, { host: settings.address, port: settings.statusPort });
    this.startedAt = Date.now();
    this.loop = this.run();
    this.deps.log.info('standby_agent_started', { node: settings.node, preferred: settings.preferred });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    await this.loop;
    await this.takeovers;
    this.control.close();
    this.status.close();
    this.deps.store.close();
    this.deps.peerStore.close();
  }

  /** keepalived reported `state` (a notify hook). */
  onState(state: VrrpState): void {
    const { log } = this.deps;
    if (state === this.state) return;
    log.info('vrrp_state', { from: this.state ?? null, to: state });
    this.state = state;
    const generation = ++this.generation;
    if (state === 'MASTER') return this.scheduleTakeover(generation);
    this.stepDown(state);
  }

  /**
   * Stops serving: pauses the store's writes (nothing the peer copies when it takes over changes
   * after that), revokes the runtime's lease (not ready; it sends its clients on).
   */
  private stepDown(reason: string): void {
    const { store, log } = this.deps;
    if (this.active || this.takingOver) {
      log.info('stepped_down', { reason });
      this.fencing = store
        .pauseWrites(STANDBY_DEFAULTS.serveLeaseMs)
        .catch((err: unknown) => log.warn('store_pause_failed', { error: err }))
        .finally(() => (this.fencing = undefined));
    }
    this.active = false;
    this.writeLease();
  }

  private get statusBody(): AgentStatus {
    const active = this.active || this.fencing !== undefined;
    return { node: this.deps.settings.node, state: this.state, active };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      await this.tick().catch((err: unknown) => this.deps.log.error('tick_failed', { error: err }));
      await sleep(Math.max(0, STANDBY_DEFAULTS.agentTickMs - (Date.now() - started)));
    }
  }

  private async tick(): Promise<void> {
    const { settings, arbiter, store, peerStore, log } = this.deps;
    const askHolder = this.active && Date.now() - this.lastHolderCheck >= STANDBY_DEFAULTS.addressCheckMs;
    const [mine, peer, holder] = await Promise.all([
      store.view(),
      this.active ? undefined : this.peerView(),
      askHolder
        ? arbiter.holder().then(
            (h) => h ?? null,
            (err: unknown) => void log.warn('address_check_failed', { error: err }),
          )
        : undefined,
    ]);
    if (askHolder) this.lastHolderCheck = Date.now();
    this.storeMisses = mine ? 0 : this.storeMisses + 1;
    const plan = planTick({
      node: settings.node,
      state: this.state,
      unreportedMs: this.state === undefined ? Date.now() - this.startedAt : 0,
      active: this.active,
      takingOver: this.takingOver,
      holder,
      store: mine,
      storeMisses: this.storeMisses,
      peer,
      peerStore: { host: peerStore.host, port: peerStore.port },
      ownStore: { host: settings.address, port: settings.storePort },
    });
    if (plan.assumeFault) {
      log.info('vrrp_state_assumed', { state: 'FAULT' });
      this.onState('FAULT');
    }
    if (plan.lostAddress && this.active) {
      log.warn('address_lost', { holder });
      this.stepDown('address lost');
    }
    if (plan.faults.join() !== this.faults.join()) log.info('check', { faults: plan.faults });
    this.faults = plan.faults;
    this.writeLease();
    this.writeCaughtUp(plan.caughtUp);
    if (plan.takeOver) this.scheduleTakeover(this.generation);
    if (plan.follow) {
      log.info('store_follows_peer', { peer: `${peerStore.host}:${peerStore.port}` });
      await store.follow(peerStore.host, peerStore.port);
    }
  }

  /** The peer as seen from here: its agent and runtime on the pair link, its service where clients reach it, its store. */
  private async peerView(): Promise<PeerView> {
    const { settings, peerStore } = this.deps;
    const timeout = STANDBY_DEFAULTS.peerProbeTimeoutMs;
    const [status, service, runtime, store] = await Promise.all([
      probe(`http://${settings.peerAddress}:${settings.statusPort}/status`, timeout),
      probe(settings.peerServiceUrl, timeout),
      probe(runtimeUrl(settings, settings.peerAddress, '/ready'), timeout),
      peerStore.view(),
    ]);
    return {
      agent:
        typeof status === 'object'
          ? { active: (status.body as AgentStatus | undefined)?.active !== false }
          : undefined,
      serviceReady: typeof service === 'object' && service.status === 200,
      runtimeReady: typeof runtime === 'object' && runtime.status === 200,
      store,
    };
  }

  private scheduleTakeover(generation: number): void {
    this.takingOver = true;
    this.takeovers = this.takeovers
      .then(() => this.takeOver(generation))
      .catch((err: unknown) => this.deps.log.error('takeover_failed', { error: err }))
      .finally(() => {
        if (generation === this.generation) this.takingOver = false;
      });
  }

  /**
   * Waits (one serve lease at most) for the peer to stop serving, then for the local store to hold
   * what the peer's has (bounded), promotes it, fences the old active's media agent, claims the
   * address and serves. A peer still serving
   * after that is one VRRP does not reach: the node refuses, and faults until the peer stops.
   */
  private async takeOver(generation: number): Promise<void> {
    const { arbiter, store, peerStore, log } = this.deps;
    const current = () => generation === this.generation && !this.stopped;
    const startedAt = Date.now();
    for (;;) {
      if (!current()) return;
      if (!peerServes(await this.peerView())) break;
      if (Date.now() - startedAt >= STANDBY_DEFAULTS.serveLeaseMs) {
        log.warn('takeover_refused', { reason: 'the peer still serves clients' });
        return;
      }
      await sleep(POLL_MS);
    }
    // A store still copying the peer's would lose what it has not copied yet.
    const syncDeadline = Date.now() + STANDBY_DEFAULTS.syncWaitMs;
    for (;;) {
      const [mine, theirs] = await Promise.all([store.view(), peerStore.view()]);
      if (!current()) return;
      if (storeCaughtUp(mine, theirs)) break;
      if (Date.now() >= syncDeadline) {
        log.warn('store_sync_wait_expired', { store: mine ?? null, peer: theirs ?? null });
        break;
      }
      await sleep(POLL_MS);
    }
    await store.promote(); // a master already stays one, its writes unpaused if it had stepped down
    await this.fenceMediaNodes();
    const previous = await arbiter.holder().catch(() => undefined);
    await arbiter.claim();
    if (!current()) return;
    this.active = true;
    this.lastHolderCheck = Date.now();
    this.writeLease();
    log.info('serving', { previousHolder: previous ?? null, takeoverMs: Date.now() - startedAt });
  }

  /**
   * Removes the old active's media registration from the promoted store (replicated, it would read
   * fresh for a TTL more): the masters then move its rooms to this node's media agent. A failure
   * only delays that until the registration expires by itself: the takeover goes on.
   */
  private async fenceMediaNodes(): Promise<void> {
    const { settings, store, log } = this.deps;
    try {
      const removed = await store.fenceMediaNodes(settings.mediaNode, settings.keyPrefix);
      log.info('media_nodes_fenced', { removed, kept: settings.mediaNode });
    } catch (err) {
      log.warn('media_fence_failed', { error: err });
    }
  }

  /** Renews the serve lease while active, revokes it otherwise (the revocation written once). */
  private writeLease(): void {
    const { leaseFile } = this.deps.settings;
    if (this.active) {
      writeLease(leaseFile, grantLease(Date.now()));
      this.leaseWritten = 'granted';
    } else if (this.leaseWritten !== 'revoked' && this.state !== undefined) {
      writeLease(leaseFile, REVOKED);
      this.leaseWritten = 'revoked';
    }
  }

  /** keepalived's caught-up weight (its track file): rewritten when the file says otherwise. */
  private writeCaughtUp(caughtUp: boolean): void {
    const { caughtUpFile } = this.deps.paths;
    const value = caughtUp ? '1' : '0';
    let current: string | undefined;
    try {
      current = readFileSync(caughtUpFile, 'utf8').trim();
    } catch {
      current = undefined;
    }
    if (current !== value) writeFileSync(caughtUpFile, `${value}\n`);
  }

  private onControl(req: IncomingMessage, res: ServerResponse): void {
    const path = pathOf(req);
    if (req.method === 'GET' && path === '/check') {
      if (this.faults.length === 0) sendJson(res, 200, { status: 'ok', ...this.statusBody });
      else sendJson(res, 503, { status: 'fault', reasons: this.faults, ...this.statusBody });
      return;
    }
    const state = /^\/state\/([A-Z]+)$/.exec(path)?.[1] as VrrpState | undefined;
    if (req.method === 'POST' && state && VRRP_STATES.includes(state)) {
      this.onState(state);
      sendJson(res, 202, this.statusBody);
      return;
    }
    sendError(res, 404, 'not_found', `GET /check or POST /state/{${VRRP_STATES.join('|')}}`);
  }

  private onStatus(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET' && pathOf(req) === '/status') sendJson(res, 200, this.statusBody);
    else sendError(res, 404, 'not_found', 'GET /status');
  }
}

function listen(server: Server, where: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
