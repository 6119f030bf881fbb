import { agentPaths, keepalivedConf } from '../../runtime/standby/keepalived';
import type { StandbySettings } from '../../runtime/standby/settings';

const SETTINGS: StandbySettings = {
  node: 'i-0aaaaaaaaaaaaaaaa',
  address: '10.0.1.10',
  peerAddress: '10.0.2.10',
  interface: 'ens5',
  preferred: true,
  failback: 'automatic',
  preemptDelayS: 10,
  virtualRouterId: 51,
  arbiter: { kind: 'elastic-ip', allocationId: 'eipalloc-0123456789abcdef0', region: 'eu-west-1' },
  peerServiceUrl: 'http://203.0.113.7:8080/ready',
  runtimePort: 8080,
  runtimeScheme: 'http',
  storePort: 6379,
  statusPort: 9191,
  stateDir: '/run/rtc-ha-standby',
  leaseFile: '/run/rtc-ha/serve.json',
  mediaNode: 'i-0aaaaaaaaaaaaaaaa',
  keyPrefix: 'rtc',
};
const conf = (over: Partial<StandbySettings> = {}) =>
  keepalivedConf({ ...SETTINGS, ...over }, agentPaths('/run/rtc-ha-standby'));

describe('keepalived.conf', () => {
  test('unicast VRRP between the two nodes, both starting as BACKUP', () => {
    const text = conf();
    expect(text).toContain('  state BACKUP\n  interface ens5\n  virtual_router_id 51\n');
    expect(text).toContain('  unicast_src_ip 10.0.1.10\n  unicast_peer {\n    10.0.2.10\n  }');
    expect(text).toContain('  advert_int 1\n');
  });

  test('the runtime’s /live as a track script (a hung runtime fails it), and the agent’s /check', () => {
    const text = conf();
    expect(text).toContain('script "/usr/bin/curl -sfk -o /dev/null -m 1 http://127.0.0.1:8080/live"');
    expect(text).toMatch(/vrrp_script rtc_runtime \{[^}]*fall 2\n  rise 2\n\}/);
    expect(text).toContain(
      'script "/usr/bin/curl -sf -o /dev/null -m 1 --unix-socket /run/rtc-ha-standby/agent.sock http://standby/check"',
    );
    expect(text).toContain('  track_script {\n    rtc_runtime\n    rtc_agent\n  }');
    expect(text).toContain('  enable_script_security\n');
  });

  test('a runtime serving TLS itself is checked over https, its certificate not verified', () => {
    expect(conf({ runtimeScheme: 'https', runtimePort: 8443 })).toContain(
      'script "/usr/bin/curl -sfk -o /dev/null -m 1 https://127.0.0.1:8443/live"',
    );
  });

  test('each state change goes to the agent', () => {
    for (const state of ['master', 'backup', 'fault', 'stop']) {
      expect(conf()).toContain(
        `  notify_${state} "/usr/bin/curl -sf -o /dev/null -m 1 --unix-socket /run/rtc-ha-standby/agent.sock -X POST http://standby/state/${state.toUpperCase()}"`,
      );
    }
  });

  test('priorities: the preferred node wins between equals; the caught-up weight outweighs the gap', () => {
    expect(conf()).toContain('  priority 150\n');
    expect(conf({ preferred: false })).toContain('  priority 100\n');
    expect(conf()).toContain(
      'track_file rtc_caught_up {\n  file "/run/rtc-ha-standby/caught-up"\n  weight 100\n  init_file 0 overwrite\n}',
    );
  });

  test('automatic failback preempts after the delay; manual failback never preempts', () => {
    expect(conf()).toContain('  preempt_delay 10\n');
    expect(conf()).not.toContain('nopreempt');
    expect(conf({ failback: 'manual' })).toContain('  nopreempt\n');
    expect(conf({ failback: 'manual' })).not.toContain('preempt_delay');
  });

  test('a virtual IP only when there is one (none on AWS: the agent moves the Elastic IP)', () => {
    expect(conf()).not.toContain('virtual_ipaddress');
    const local = conf({ virtualAddress: { cidr: '10.88.0.100/24', interface: 'pub0' } });
    expect(local).toContain(
      '  virtual_ipaddress {\n    10.88.0.100/24 dev pub0\n  }\n  garp_master_refresh 2\n',
    );
  });
});
