import { standbySettingsFromEnv } from '../../runtime/standby/settings';

const LOCAL = {
  RTC_STANDBY_NODE: 'a',
  RTC_STANDBY_ADDRESS: '10.89.0.1',
  RTC_STANDBY_PEER_ADDRESS: '10.89.0.2',
  RTC_STANDBY_INTERFACE: 'ha0',
  RTC_STANDBY_PREFERRED: 'true',
  RTC_STANDBY_VIRTUAL_ADDRESS: '10.88.0.100/24',
  RTC_STANDBY_VIRTUAL_INTERFACE: 'pub0',
  RTC_STANDBY_ADDRESS_FILE: '/tmp/pair/address-holder',
  RTC_STANDBY_PEER_SERVICE_URL: 'http://10.88.0.2:8080/ready',
  RTC_SERVE_LEASE_FILE: '/run/rtc-ha/serve.json',
};
const AWS = {
  RTC_STANDBY_NODE: 'i-0aaaaaaaaaaaaaaaa',
  RTC_STANDBY_ADDRESS: '10.0.1.10',
  RTC_STANDBY_PEER_ADDRESS: '10.0.2.10',
  RTC_STANDBY_INTERFACE: 'ens5',
  RTC_STANDBY_PREFERRED: 'false',
  RTC_STANDBY_FAILBACK: 'manual',
  RTC_STANDBY_EIP_ALLOCATION_ID: 'eipalloc-0123456789abcdef0',
  AWS_REGION: 'eu-west-1',
  RTC_STANDBY_PEER_SERVICE_URL: 'http://203.0.113.7:8080/ready',
  RTC_STANDBY_STORE_PASSWORD: 'a-long-store-password',
  RTC_SERVE_LEASE_FILE: '/run/rtc-ha/serve.json',
};

describe('standby settings from the environment', () => {
  test('one machine: a virtual IP and a file arbiter, the defaults filled in', () => {
    expect(standbySettingsFromEnv(LOCAL)).toEqual({
      ok: true,
      config: {
        node: 'a',
        address: '10.89.0.1',
        peerAddress: '10.89.0.2',
        interface: 'ha0',
        preferred: true,
        failback: 'automatic',
        preemptDelayS: 10,
        virtualRouterId: 51,
        virtualAddress: { cidr: '10.88.0.100/24', interface: 'pub0' },
        arbiter: { kind: 'file', path: '/tmp/pair/address-holder' },
        peerServiceUrl: 'http://10.88.0.2:8080/ready',
        runtimePort: 8080,
        runtimeScheme: 'http',
        storePort: 6379,
        storePassword: undefined,
        statusPort: 9191,
        stateDir: '/run/rtc-ha-standby',
        leaseFile: '/run/rtc-ha/serve.json',
        mediaNode: 'a',
        keyPrefix: 'rtc',
      },
    });
  });

  test('the media agent named apart from the node, and a key prefix', () => {
    const parsed = standbySettingsFromEnv({
      ...LOCAL,
      RTC_STANDBY_MEDIA_NODE: 'media-a',
      RTC_KEY_PREFIX: 'pair',
    });
    expect(parsed.ok && parsed.config).toMatchObject({ node: 'a', mediaNode: 'media-a', keyPrefix: 'pair' });
  });

  test('AWS: the Elastic IP as the arbiter, no virtual IP', () => {
    const parsed = standbySettingsFromEnv(AWS);
    expect(parsed.ok && parsed.config).toMatchObject({
      failback: 'manual',
      preferred: false,
      virtualAddress: undefined,
      arbiter: { kind: 'elastic-ip', allocationId: 'eipalloc-0123456789abcdef0', region: 'eu-west-1' },
      storePassword: 'a-long-store-password',
      // The media agent's RTC_NODE_ID is the instance id as well (runtime/node/boot.ts).
      mediaNode: 'i-0aaaaaaaaaaaaaaaa',
    });
  });

  test('every problem at once, each naming its variable', () => {
    const parsed = standbySettingsFromEnv({
      ...AWS,
      RTC_STANDBY_ADDRESS: 'ten.0.1.10',
      RTC_STANDBY_PREFERRED: 'yes',
      RTC_STANDBY_FAILBACK: 'sometimes',
      RTC_STANDBY_PEER_SERVICE_URL: undefined,
      RTC_STANDBY_MEDIA_NODE: 'media a',
      RTC_KEY_PREFIX: '{rtc}',
    });
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'RTC_KEY_PREFIX',
      'RTC_STANDBY_ADDRESS',
      'RTC_STANDBY_FAILBACK',
      'RTC_STANDBY_MEDIA_NODE',
      'RTC_STANDBY_PEER_SERVICE_URL',
      'RTC_STANDBY_PREFERRED',
    ]);
  });

  test.each([
    ['both arbiters', { ...AWS, RTC_STANDBY_ADDRESS_FILE: '/tmp/x' }, /set exactly one/],
    ['no arbiter', { ...AWS, RTC_STANDBY_EIP_ALLOCATION_ID: undefined }, /set exactly one/],
    ['an Elastic IP without a region', { ...AWS, AWS_REGION: undefined }, /AWS_REGION: required/],
    [
      'a virtual interface without an address',
      { ...AWS, RTC_STANDBY_VIRTUAL_INTERFACE: 'eth1' },
      /only with/,
    ],
    ['the peer at this node’s address', { ...AWS, RTC_STANDBY_PEER_ADDRESS: '10.0.1.10' }, /must differ/],
  ])('refuses %s', (_, env, problem) => {
    const parsed = standbySettingsFromEnv(env);
    expect(!parsed.ok && parsed.problems.join('\n')).toMatch(problem);
  });
});
