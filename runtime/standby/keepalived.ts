import { join } from 'node:path';
import { STANDBY_DEFAULTS } from './defaults';
import { runtimeUrl, StandbySettings } from './settings';

/** Where the agent's pieces are on this node, as keepalived's scripts reach them. */
export interface AgentPaths {
  /** The agent's control socket: /check for keepalived, /state/<STATE> from the notify hooks. */
  readonly socket: string;
  /** The track file the agent writes 1 into while this node is active or caught up with the active. */
  readonly caughtUpFile: string;
}

export function agentPaths(stateDir: string): AgentPaths {
  return { socket: join(stateDir, 'agent.sock'), caughtUpFile: join(stateDir, 'caught-up') };
}

/** keepalived's states the agent is told about (notify_stop is reported as STOP). */
export const VRRP_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP'] as const;
export type VrrpState = (typeof VRRP_STATES)[number];

const INSTANCE = 'rtc_ha';

/**
 * keepalived.conf for one node of the pair (pure). Unicast VRRP to the peer (AWS has no multicast);
 * both nodes start as BACKUP, so the election (priority, then the caught-up weight) decides. A node
 * faults, and its peer takes over, when either check fails:
 *
 * - `rtc_runtime`: the local master's GET /live. Not /ready: a standby's runtime is not ready by
 *   design (no serve lease, a read-only store), yet it must be able to take over. /live answers while
 *   the event loop does, so a hung runtime (SIGSTOP) fails it like a dead one.
 * - `rtc_agent`: the standby agent's /check: it fails while the agent has not been told its state
 *   (just restarted), while this node lost the address to its peer, or while this node cannot reach
 *   its peer but the peer serves clients (a cut pair link must not make a second active).
 *
 * Failback: `nopreempt` (manual: the node that took over keeps the address until it fails or is
 * restarted) or `preempt_delay` (automatic: the preferred node takes it back once its weight says it
 * caught up, after the delay). The notify hooks tell the agent every state change; the agent does the
 * work (store role, address, serve lease), so a slow step never delays VRRP.
 */
export function keepalivedConf(settings: StandbySettings, paths: AgentPaths, curl = '/usr/bin/curl'): string {
  const d = STANDBY_DEFAULTS;
  const toAgent = `${curl} -sf -o /dev/null -m ${d.checkTimeoutS} --unix-socket ${paths.socket}`;
  const notify = (state: VrrpState) =>
    `  notify_${state.toLowerCase()} "${toAgent} -X POST http://standby/state/${state}"`;
  const vip = settings.virtualAddress;
  return [
    '# Written by rtc-standby (runtime/standby/keepalived.ts): regenerate it rather than edit it.',
    'global_defs {',
    `  router_id ${settings.node}`,
    '  script_user root',
    '  enable_script_security',
    '}',
    '',
    'vrrp_script rtc_runtime {',
    // -k: the runtime's certificate names the service, not 127.0.0.1; the check reads nothing secret.
    `  script "${curl} -sfk -o /dev/null -m ${d.checkTimeoutS} ${runtimeUrl(settings, '127.0.0.1', '/live')}"`,
    `  interval ${d.checkIntervalS}`,
    `  timeout ${d.checkTimeoutS + 1}`,
    `  fall ${d.runtimeCheckFall}`,
    `  rise ${d.runtimeCheckRise}`,
    '}',
    '',
    'vrrp_script rtc_agent {',
    `  script "${toAgent} http://standby/check"`,
    `  interval ${d.checkIntervalS}`,
    `  timeout ${d.checkTimeoutS + 1}`,
    '}',
    '',
    'track_file rtc_caught_up {',
    `  file "${paths.caughtUpFile}"`,
    `  weight ${d.caughtUpWeight}`,
    '  init_file 0 overwrite',
    '}',
    '',
    `vrrp_instance ${INSTANCE} {`,
    '  state BACKUP',
    `  interface ${settings.interface}`,
    `  virtual_router_id ${settings.virtualRouterId}`,
    `  priority ${settings.preferred ? d.preferredPriority : d.otherPriority}`,
    `  advert_int ${d.advertIntervalS}`,
    `  unicast_src_ip ${settings.address}`,
    '  unicast_peer {',
    `    ${settings.peerAddress}`,
    '  }',
    settings.failback === 'manual' ? '  nopreempt' : `  preempt_delay ${settings.preemptDelayS}`,
    ...(vip
      ? [
          '  virtual_ipaddress {',
          `    ${vip.cidr} dev ${vip.interface}`,
          '  }',
          `  garp_master_refresh ${d.garpRefreshS}`,
        ]
      : []),
    '  track_script {',
    '    rtc_runtime',
    '    rtc_agent',
    '  }',
    '  track_file {',
    '    rtc_caught_up',
    '  }',
    ...VRRP_STATES.map(notify),
    '}',
    '',
  ].join('\n');
}
