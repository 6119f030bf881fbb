import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { loadConfig, RtcHaConfig, validateConfig } from '../../../lib/config';
import { PROJECT_ROOT } from '../support/app';
import { effectiveDefaults, fieldsOf, valueAt } from '../support/config';

function load(context: Record<string, unknown>, cwd = PROJECT_ROOT): RtcHaConfig {
  return loadConfig(new App({ context }).node, cwd);
}

/** The problems of an invalid configuration, one per line of the error. */
function problemsOf(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (e) {
    return (e as Error).message
      .split('\n')
      .slice(1)
      .map((l) => l.replace(/^ {2}- /, ''));
  }
  throw new Error('the configuration was accepted');
}

describe('configuration', () => {
  it("fills in only the app's own defaults and leaves what a construct owns unset", () => {
    expect(validateConfig({})).toEqual({
      stackName: 'RtcHa',
      topology: 'cluster',
      env: {},
      network: {},
      sessionStore: {},
      loadBalancer: {},
      masters: {},
      media: {},
      runtime: {},
      watchdog: {},
      alarms: {},
      pair: {},
    });
  });

  describe('loading', () => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-ha-config-'));
      fs.writeFileSync(
        path.join(dir, 'ok.json'),
        JSON.stringify({
          masters: { minCapacity: 3 },
          network: { availabilityZones: ['eu-west-1a', 'eu-west-1b'] },
        }),
      );
      fs.writeFileSync(path.join(dir, 'broken.json'), '{ "masters": ');
      fs.writeFileSync(path.join(dir, 'list.json'), '[]');
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('uses the defaults when nothing is configured', () => {
      expect(load({})).toEqual(validateConfig({}));
    });

    it('overlays cdk.json context, then the file named by -c config=, field by field', () => {
      // GIVEN context and a file that both set masters
      const config = load(
        {
          'rtc-ha': {
            masters: { minCapacity: 2, maxCapacity: 8 },
            network: { availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] },
          },
          config: 'ok.json',
        },
        dir,
      );
      // THEN the file wins where both set a field, objects merge, arrays replace
      expect(config.masters).toEqual({ minCapacity: 3, maxCapacity: 8 });
      expect(config.network.availabilityZones).toEqual(['eu-west-1a', 'eu-west-1b']);
    });

    it('reads context given as a JSON string on the command line', () => {
      expect(load({ 'rtc-ha': '{"stackName":"Rtc2"}' }).stackName).toBe('Rtc2');
    });

    it('reads examples/production.json from the project root', () => {
      const config = load({ config: 'examples/production.json' });
      expect(config.masters.minCapacity).toBe(3);
      expect(config.network.availabilityZones).toHaveLength(3);
      expect(config.loadBalancer.certificateArn).toMatch(/^arn:aws:acm:/);
    });

    it.each([
      [{ 'rtc-ha': 'masters' }, /context "rtc-ha" must be a JSON object/],
      [{ config: 'nope.json' }, /config: cannot read .*nope\.json \(ENOENT\)/],
      [{ config: 'broken.json' }, /config: .*broken\.json is not valid JSON/],
      [{ config: 'list.json' }, /config: .*list\.json must hold a JSON object/],
    ])('rejects %j', (context, message) => {
      expect(() => load(context, dir)).toThrow(message);
    });
  });

  describe('validation', () => {
    it('lists every problem at once, each naming its field', () => {
      // GIVEN the mistakes of the issue, all in one configuration
      const problems = problemsOf({
        network: {
          availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
          cidr: '10.0.0.0/24',
          subnetCidrMask: 26,
        },
        loadBalancer: {
          certificateArn:
            'arn:aws:acm:eu-west-1:111122223333:certificate/0f0e0d0c-0b0a-4909-8807-060504030201',
        },
        masters: { minCapacity: 1, instanceTypes: ['c7g-medium', 'm7g.medium'] },
        media: {
          minCapacity: 5,
          spareCapacity: 1,
          maxCapacity: 4,
          scaling: { scaleOutLoadPercent: 40, scaleInLoadPercent: 60 },
        },
      });
      // THEN
      expect(problems).toEqual([
        'network.subnetCidrMask /26 leaves room for 4 subnets in a /24 VPC, but 3 AZs need 6 (one public and one private per AZ)',
        'loadBalancer.domainName is required with a certificate: clients must connect to a name the certificate covers',
        'masters.minCapacity must be an integer from 2 to 999 (got 1)',
        'masters.instanceTypes must be EC2 instance types like c7g.medium (got "c7g-medium")',
        'media.scaling.scaleInLoadPercent must be less than scaling.scaleOutLoadPercent (60 >= 40)',
        'media.maxCapacity must be greater than minCapacity + spareCapacity (4 <= 6) so a rolling update can add a node before it removes one',
      ]);
    });

    it('reports shape problems together with the value problems of the well-shaped sections', () => {
      const problems = problemsOf({
        masters: { minCapacity: '2', replicas: 1 },
        sessionStore: { engine: 'memcached' },
        media: { mediaPortMin: 50000, mediaPortMax: 40000 },
        extra: true,
      });
      expect(problems).toEqual([
        "sessionStore.engine: Invalid enum value. Expected 'valkey' | 'redis', received 'memcached'",
        'masters.minCapacity: Expected number, received string',
        "masters: Unrecognized key(s) in object: 'replicas'",
        "(top level): Unrecognized key(s) in object: 'extra'",
        'media.mediaPortMin must not exceed mediaPortMax (50000 > 40000)',
      ]);
    });

    it('rejects a configuration that is not an object', () => {
      expect(problemsOf([])).toEqual(['(top level): Expected object, received array']);
    });

    it.each<[string, unknown, string]>([
      [
        'a malformed stack name',
        { stackName: 'rtc_ha' },
        'stackName must be a CloudFormation stack name like RtcHa (got "rtc_ha")',
      ],
      [
        'a watchdog cycle above 30 s',
        { watchdog: { cycleSeconds: 60 } },
        'watchdog.cycleSeconds must be whole seconds from 1 to 30 (got 1 minute)',
      ],
      [
        'no flags allowed per cycle',
        { watchdog: { maxFlagsPerCycle: 0 } },
        'watchdog.maxFlagsPerCycle must be an integer from 1 to 100 (got 0)',
      ],
      [
        'a healthy share of the whole fleet',
        { watchdog: { mediaMinHealthyShare: 1 } },
        'watchdog.mediaMinHealthyShare must be at least 0 and below 1 (got 1)',
      ],
      [
        'a hold alarm after two hours',
        { watchdog: { holdAlarmMinutes: 120 } },
        'watchdog.holdAlarmMinutes must be whole minutes from 1 to 60 (got 2 hours)',
      ],
      [
        'a malformed account',
        { env: { account: '123' } },
        'env.account must be a 12-digit AWS account id (got "123")',
      ],
      [
        'a malformed region',
        { env: { region: 'Europe' } },
        'env.region must be an AWS region like eu-west-1 (got "Europe")',
      ],
      [
        'an existing VPC without an environment',
        { network: { vpcId: 'vpc-0123456789abcdef0' } },
        'network.vpcId needs env.account and env.region: an existing VPC is looked up in that account and region',
      ],
      [
        'AZs of another region',
        { env: { region: 'eu-west-1' }, network: { availabilityZones: ['eu-west-1a', 'us-east-1a'] } },
        'network.availabilityZones must be in env.region eu-west-1 (got us-east-1a)',
      ],
      [
        'access logs without a region',
        { loadBalancer: { accessLogs: true } },
        'loadBalancer.accessLogs needs env.region: ELB log delivery is regional (production turns access logs on; set accessLogs to false to go without)',
      ],
      [
        'a certificate of another region',
        {
          env: { region: 'eu-west-1' },
          loadBalancer: {
            certificateArn:
              'arn:aws:acm:us-east-1:111122223333:certificate/0f0e0d0c-0b0a-4909-8807-060504030201',
            domainName: 'rtc.example.com',
          },
        },
        'loadBalancer.certificateArn must be a certificate in env.region eu-west-1 (got one in us-east-1)',
      ],
      [
        'a store on the default port',
        { sessionStore: { port: 6379 } },
        'sessionStore.port must not be the default port 6379',
      ],
      [
        'a Node.js version: the node image pins it (constructs/node-software/node-release.ts)',
        { runtime: { nodeVersion: '24.21.0' } },
        "runtime: Unrecognized key(s) in object: 'nodeVersion'",
      ],
      [
        'a drain deadline the load balancer cannot outlast',
        { runtime: { drainDeadlineMs: 3_600_000 } },
        'runtime.drainDeadlineMs must be an integer from 1000 to 3570000 (got 3600000)',
      ],
      [
        'a log retention CloudWatch Logs does not offer',
        { media: { logRetentionDays: 10 } },
        expect.stringMatching(
          /^media\.logRetentionDays must be one of CloudWatch Logs' retention periods \(1, 3, .*got 10\)$/,
        ),
      ],
      [
        'an address that is not one',
        { alarms: { email: 'oncall' } },
        'alarms.email must be an email address (got "oncall")',
      ],
      [
        'a TURN certificate in another region',
        {
          env: { region: 'eu-west-1' },
          media: {
            turn: {
              tlsCertificateSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:turn-tls-AbC123',
              tlsHostName: '{ip}.turn.example.com',
            },
          },
        },
        'media.turn.tlsCertificateSecretArn must be a secret in env.region eu-west-1, where the nodes read it (got one in us-east-1)',
      ],
      [
        'a malformed media instance type',
        { media: { instanceTypes: ['c7g', 'c7g.large'] } },
        'media.instanceTypes must be EC2 instance types like c7g.medium (got "c7g")',
      ],
      [
        'a pair section while the cluster is selected',
        { pair: { failback: 'manual' } },
        'pair applies to topology "pair", not "cluster": remove it, or set topology to "pair"',
      ],
      [
        'a cluster section while the pair is selected',
        { topology: 'pair', masters: { minCapacity: 3 } },
        'masters applies to topology "cluster", not "pair": remove it, or set topology to "cluster"',
      ],
      [
        'a production pair without TLS',
        { topology: 'pair', production: true },
        'pair.tls is required in production: without it the pair serves plain HTTP and WebSocket (or set production to false)',
      ],
      [
        'a pair client range that is no CIDR block',
        { topology: 'pair', pair: { clientCidr: '198.51.100.7' } },
        'pair.clientCidr must be an IPv4 CIDR block like 198.51.100.0/24 (got "198.51.100.7")',
      ],
      [
        'a pair preempt delay above 1000 s',
        { topology: 'pair', pair: { preemptDelaySeconds: 1200 } },
        'pair.preemptDelaySeconds must be whole seconds from 0 to 1000 (got 20 minutes)',
      ],
      [
        'a pair certificate in another region',
        {
          topology: 'pair',
          env: { region: 'eu-west-1' },
          pair: {
            tls: {
              certificateSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:pair-tls-AbC123',
              domainName: 'rtc.example.org',
            },
          },
        },
        'pair.tls.certificateSecretArn must be a secret in env.region eu-west-1, where the nodes read it (got one in us-east-1)',
      ],
      [
        'a single media instance type',
        { media: { instanceTypes: ['c7g.large'] } },
        'media.instanceTypes must list 2 to 20 instance types, so that a shortage of one does not block a replacement (got 1)',
      ],
    ])('rejects %s', (_, raw, problem) => {
      expect(problemsOf(raw)).toEqual([problem]);
    });

    it('accepts a production pair with TLS, and the cluster sections left empty', () => {
      const tls = {
        certificateSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:pair-tls-AbC123',
        domainName: 'rtc.example.org',
      };
      const raw = {
        topology: 'pair',
        production: true,
        env: { region: 'eu-west-1' },
        masters: {},
        pair: { tls },
      };
      expect(validateConfig(raw)).toMatchObject({ topology: 'pair', pair: { tls } });
    });

    it.each(['production.json', 'pair.json'])('accepts the example %s', (file) => {
      const raw = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'examples', file), 'utf8'));
      expect(() => validateConfig(raw)).not.toThrow();
    });
  });

  it('documents every field with the default its home fills in, in docs/configuration.md', () => {
    // Table rows: `field`, type, default, validation; an escaped pipe stays inside its cell. A default
    // cell starts with the value as code (then maybe how it follows from other fields), or with "unset".
    const rows = fs
      .readFileSync(path.join(PROJECT_ROOT, 'docs/configuration.md'), 'utf8')
      .split('\n')
      .map((line) => line.split(/(?<!\\)\|/).map((cell) => cell.trim()));
    const defaults = effectiveDefaults();
    const wrong = fieldsOf().flatMap((field) => {
      const row = rows.find((cells) => cells[1] === `\`${field}\``);
      const value = valueAt(defaults, field);
      const shown = Array.isArray(value) ? `[${value.join(', ')}]` : String(value);
      const documented = row?.[3].match(/^`([^`]*)`/)?.[1] ?? row?.[3].match(/^unset\b/)?.[0];
      const expected = value === undefined ? 'unset' : shown;
      return documented === expected ? [] : [`${field}: documented ${documented}, defaults to ${expected}`];
    });
    expect(wrong).toEqual([]);
  });
});
