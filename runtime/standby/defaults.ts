/**
 * Defaults of the active-standby pair (docs/topologies.md): the one home of each timing and number the
 * pair's pieces share (the keepalived configuration, the standby agent, the master's serve lease, the
 * CDK construct). The cluster's timings stay in runtime/contract/timings.ts.
 */
export const STANDBY_DEFAULTS = {
  /** VRRP advertisement interval: the standby takes over ~3 intervals after the last one (RFC 3768). */
  advertIntervalS: 1,
  /** keepalived runs each track script this often. */
  checkIntervalS: 1,
  /** A hung runtime (SIGSTOP: no reset, no answer) fails its /live check after this long. */
  checkTimeoutS: 1,
  /** Failed /live checks in a row before the node faults, and good ones before it recovers. */
  runtimeCheckFall: 2,
  runtimeCheckRise: 2,
  /** The agent reconciles (lease, fence, replication, caught-up) this often. */
  agentTickMs: 500,
  /** The active asks the address arbiter (the Elastic IP's association) who holds it this often. */
  addressCheckMs: 1_000,
  /**
   * A serve lease lasts this long unless renewed (every tick while active): a runtime whose agent and
   * keepalived died stops serving by itself. A new active waits at most this long for the old one to
   * stop serving before it refuses to take over.
   */
  serveLeaseMs: 3_000,
  /** The runtime reads its serve lease file this often. */
  leasePollMs: 250,
  /** The agent's probes of the peer (status, store, runtime) give up after this long. */
  peerProbeTimeoutMs: 500,
  /** A new active waits at most this long for its store to catch up with a live peer's before promoting it. */
  syncWaitMs: 10_000,
  /**
   * Automatic failback: the preferred node takes the address back this long after it is healthy and
   * caught up (keepalived's preempt_delay): long enough not to bounce clients twice on a flapping node.
   */
  preemptDelayS: 10,
  /** VRRP priorities: the preferred node wins an election between equals. */
  preferredPriority: 150,
  otherPriority: 100,
  /**
   * Priority a node gains while active or caught up with the active: more than the priorities' gap,
   * so a preferred node that has not caught up never preempts an active one.
   */
  caughtUpWeight: 100,
  /** VRRP virtual router id (1-255): pairs on one link need distinct ids. */
  virtualRouterId: 51,
  /** While active with a local virtual IP, send gratuitous ARPs this often (a peer that flickered may have claimed it). */
  garpRefreshS: 2,
  /** Each node's session store (redis-server), replicated to the standby. */
  storePort: 6379,
  /** The agent's read-only status, for the peer's agent (on the pair link). */
  statusPort: 9191,
} as const;
