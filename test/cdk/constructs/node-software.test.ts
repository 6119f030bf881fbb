import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  DRAIN_MARGIN,
  drainTimeout,
  NodeSoftware,
  NodeSoftwareProps,
} from '../../../constructs/node-software';
import { DRAIN_HARD_CAP_MS } from '../../../runtime/node/lifecycle';
import { testApp } from '../support/app';

const ENTRY = path.join(__dirname, '..', 'support', 'fixtures', 'runtime-entry.ts');

function build(props: Partial<NodeSoftwareProps> = {}): {
  stack: Stack;
  software: NodeSoftware;
  secret: secretsmanager.Secret;
} {
  const stack = new Stack(testApp(), 'Test');
  const secret = new secretsmanager.Secret(stack, 'Secret');
  const software = new NodeSoftware(stack, 'Runtime', {
    role: 'media',
    entry: ENTRY,
    port: 9090,
    logGroup: new logs.LogGroup(stack, 'Logs'),
    environment: { RTC_MEDIA_PORT_MIN: '40000' },
    secrets: { RTC_API_SECRET: secret },
    ...props,
  });
  return { stack, software, secret };
}

function userDataOf(stack: Stack, software: NodeSoftware): string {
  return JSON.stringify(stack.resolve(software.userData.render()));
}

describe('NodeSoftware', () => {
  let built: ReturnType<typeof build>;
  let template: Template;
  let userData: string;
  beforeAll(() => {
    // GIVEN an entry point that imports ws and zod  WHEN the software is built
    built = build();
    template = Template.fromStack(built.stack);
    userData = userDataOf(built.stack, built.software);
  });

  it('bundles the entry point and the log shipper, each into one file with an inline source map, as the app directory', () => {
    // THEN
    const assembly = (built.stack.node.root as ReturnType<typeof testApp>).synth();
    const hash = built.stack.resolve(built.software.app.assetHash);
    const dir = path.join(assembly.directory, `asset.${hash}`);
    expect(fs.readdirSync(dir).sort()).toEqual(['log-shipper.js', 'main.js']);
    const main = fs.readFileSync(path.join(dir, 'main.js'), 'utf8');
    expect(main).toContain('WebSocketServer');
    expect(main).not.toMatch(/require\("(ws|zod)"\)/);
    expect(main).toContain('//# sourceMappingURL=data:application/json;base64,');
    const map = JSON.parse(Buffer.from(main.split('base64,').pop()!, 'base64').toString());
    expect(map.sources).toContain('test/cdk/support/fixtures/runtime-entry.ts');
    // The nodes have no AWS SDK of their own: the shipper carries its CloudWatch Logs client.
    const shipper = fs.readFileSync(path.join(dir, 'log-shipper.js'), 'utf8');
    expect(shipper.includes('require("@aws-sdk/client-cloudwatch-logs")')).toBe(false);
    expect(shipper.includes('PutLogEventsCommand')).toBe(true);
  });

  it('exposes the install script as a single-file asset for the image', () => {
    expect(built.software.script.isFile).toBe(true);
    expect(built.software.app.isFile).toBe(false);
  });

  it('gives the same app, and so the same asset hash, on every synth', () => {
    const again = build();
    expect(again.stack.resolve(again.software.app.assetHash)).toBe(
      built.stack.resolve(built.software.app.assetHash),
    );
  });

  it('bundles the real runtime entry points by default', () => {
    const { stack, software } = build({ entry: undefined, role: 'master' });
    expect(stack.resolve(software.app.assetHash)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("fails synth with esbuild's message when the entry point does not build", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'entry-'));
    expect(() => build({ entry: path.join(dir, 'missing.ts') })).toThrow(
      /esbuild could not bundle .*missing\.ts/,
    );
  });

  it('keeps the non-secret settings in one SSM parameter, one RTC_NAME=value per line', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Type: 'String',
      Value: 'RTC_PORT=9090\nRTC_KEY_PREFIX=rtc\nRTC_DRAIN_DEADLINE_MS=30000\nRTC_MEDIA_PORT_MIN=40000',
    });
  });

  it('boots with one configure command: where the settings, secrets and log group are, and the stop timeout', () => {
    const lines = JSON.parse(userData)['Fn::Join'][1];
    const text = lines
      .map((part: unknown) => (typeof part === 'string' ? part : JSON.stringify(part)))
      .join('');
    const commands = text.split('\n').filter((line: string) => line !== '' && !line.startsWith('#'));
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatch(
      new RegExp(
        [
          '^/opt/rtc-ha/bin/rtc-ha-node configure',
          '--set \'RTC_BOOT_REGION=\\{"Ref":"AWS::Region"\\}\'',
          '--set \'RTC_BOOT_SETTINGS_PARAMETER=\\{"Ref":"RuntimeSettings[0-9A-F]+"\\}\'',
          '--set \'RTC_BOOT_SECRETS=RTC_API_SECRET=\\{"Ref":"Secret[0-9A-F]+"\\}\'',
          '--set \'RTC_BOOT_LOG_GROUP=\\{"Ref":"Logs[0-9A-F]+"\\}\'',
          '--stop-timeout 60$',
        ].join(' '),
      ),
    );
    // Nothing is downloaded, parsed or signalled by the shell: the image and the runtime do that.
    expect(userData).not.toMatch(/aws s3 cp|curl|cfn-signal|--wait-ready/);
  });

  it('names the resource to signal once ready, and only what it is asked to', () => {
    // GIVEN node software and a CloudFormation resource  WHEN it is told to signal it
    const { stack, software } = build({ secrets: {} });
    const topic = new sns.Topic(stack, 'Group');
    software.signalReadyTo(topic);
    // THEN
    const data = userDataOf(stack, software);
    expect(data).toMatch(
      /--set 'RTC_BOOT_SIGNAL_STACK=Test' --set 'RTC_BOOT_SIGNAL_RESOURCE=Group[0-9A-F]+' --stop-timeout/,
    );
    expect(data).not.toContain('RTC_BOOT_SECRETS');
    expect(() => software.signalReadyTo(new Construct(stack, 'Plain'))).toThrow(
      /signalReadyTo: Test\/Plain is not backed by a CloudFormation resource/,
    );
  });

  it("takes the stop timeout from the drain deadline plus a margin past the runtime's own hard cap", () => {
    expect(DRAIN_MARGIN.toSeconds()).toBeGreaterThan(DRAIN_HARD_CAP_MS / 1000);
    expect(drainTimeout().toSeconds()).toBe(30 + DRAIN_MARGIN.toSeconds());
    expect(drainTimeout({ drainDeadlineMs: 1500 }).toSeconds()).toBe(2 + DRAIN_MARGIN.toSeconds());
    const { stack, software } = build({ drainDeadlineMs: 90_000 });
    expect(software.drainTimeout.toSeconds()).toBe(120);
    expect(userDataOf(stack, software)).toContain('--stop-timeout 120');
  });

  it('marks the user data with a digest of the settings, so a settings change rolls the fleet', () => {
    const digestOf = (props: Partial<NodeSoftwareProps>) => {
      const b = build(props);
      return userDataOf(b.stack, b.software).match(/settings digest: ([0-9a-f]{16})/)?.[1];
    };
    expect(digestOf({})).toBe(userData.match(/settings digest: ([0-9a-f]{16})/)?.[1]);
    expect(digestOf({ keyPrefix: 'other' })).not.toBe(digestOf({}));
  });

  it('grants reading exactly the settings parameter and the secrets', () => {
    // GIVEN node software and a role  WHEN the role is granted read
    const { stack, software } = build();
    const role = new iam.Role(stack, 'Node', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    software.grantRead(role);
    // THEN
    const [policy] = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'));
    const statements = policy.Properties.PolicyDocument.Statement;
    expect(statements).toEqual([
      expect.objectContaining({
        Action: [
          'ssm:DescribeParameters',
          'ssm:GetParameter',
          'ssm:GetParameterHistory',
          'ssm:GetParameters',
        ],
      }),
      // No VersionStage condition: the runtime also reads the API secret's AWSPREVIOUS stage.
      {
        Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        Effect: 'Allow',
        Resource: { Ref: expect.stringMatching(/^Secret/) },
      },
    ]);
    expect(JSON.stringify(policy)).not.toContain('*');
  });

  it.each<[string, Partial<NodeSoftwareProps>, RegExp]>([
    ['a malformed key prefix', { keyPrefix: 'rtc prefix' }, /keyPrefix must be up to 32 letters/],
    [
      'a drain deadline under a second',
      { drainDeadlineMs: 500 },
      /drainDeadlineMs must be an integer from 1000 to 3570000/,
    ],
    [
      'a drain deadline the load balancer cannot wait for',
      { drainDeadlineMs: 3_580_000 },
      /drainDeadlineMs must be an integer from 1000 to 3570000/,
    ],
    [
      'a variable outside RTC_*',
      { environment: { PATH: '/tmp' } },
      /environment must be keyed by RTC_\* variable names/,
    ],
    [
      'a variable the construct sets',
      { environment: { RTC_PORT: '1' } },
      /environment must not set RTC_PORT/,
    ],
    [
      'a variable the boot takes from instance metadata',
      { secrets: { RTC_NODE_ID: {} as secretsmanager.ISecret } },
      /secrets must not set RTC_NODE_ID/,
    ],
    [
      'a secret that repeats a setting',
      { environment: { RTC_X: '1' }, secrets: { RTC_X: {} as secretsmanager.ISecret } },
      /secrets must not repeat RTC_X from environment/,
    ],
  ])('rejects %s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});
