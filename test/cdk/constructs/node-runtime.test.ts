import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NodeRuntime, NodeRuntimeProps } from '../../../constructs/node-runtime';
import { testApp } from '../support/app';

const ENTRY = path.join(__dirname, '..', 'support', 'fixtures', 'runtime-entry.ts');

function build(props: Partial<NodeRuntimeProps> = {}): {
  stack: Stack;
  runtime: NodeRuntime;
  secret: secretsmanager.Secret;
} {
  const stack = new Stack(testApp(), 'Test');
  const secret = new secretsmanager.Secret(stack, 'Secret');
  const runtime = new NodeRuntime(stack, 'Runtime', {
    role: 'media',
    entry: ENTRY,
    port: 9090,
    environment: { RTC_MEDIA_PORT_MIN: '40000' },
    secrets: { RTC_API_SECRET: secret },
    ...props,
  });
  return { stack, runtime, secret };
}

function userDataOf(stack: Stack, runtime: NodeRuntime): string {
  return JSON.stringify(stack.resolve(runtime.userData.render()));
}

describe('NodeRuntime', () => {
  let built: ReturnType<typeof build>;
  let template: Template;
  let userData: string;
  beforeAll(() => {
    // GIVEN an entry point that imports ws and zod  WHEN the runtime is built
    built = build();
    template = Template.fromStack(built.stack);
    userData = userDataOf(built.stack, built.runtime);
  });

  it('bundles the entry point and its dependencies into one JavaScript file with an inline source map', () => {
    // THEN
    const assembly = (built.stack.node.root as ReturnType<typeof testApp>).synth();
    const hash = built.stack.resolve(built.runtime.bundle.assetHash);
    const bundle = fs.readFileSync(path.join(assembly.directory, `asset.${hash}.js`), 'utf8');
    expect(bundle).toContain('WebSocketServer');
    expect(bundle).not.toMatch(/require\("(ws|zod)"\)/);
    expect(bundle).toContain('//# sourceMappingURL=data:application/json;base64,');
    const map = JSON.parse(Buffer.from(bundle.split('base64,').pop()!, 'base64').toString());
    expect(map.sources).toContain('test/cdk/support/fixtures/runtime-entry.ts');
  });

  it('gives the same bundle, and so the same asset hash, on every synth', () => {
    const again = build();
    expect(again.stack.resolve(again.runtime.bundle.assetHash)).toBe(
      built.stack.resolve(built.runtime.bundle.assetHash),
    );
  });

  it('bundles the real runtime entry points by default', () => {
    const { stack, runtime } = build({ entry: undefined, role: 'master' });
    expect(stack.resolve(runtime.bundle.assetHash)).toMatch(/^[0-9a-f]{64}$/);
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

  it('downloads the script and the bundle, installs the pinned Node.js, then configures and waits for /ready', () => {
    expect(userData).toContain('set -euo pipefail');
    expect(userData).toMatch(/aws s3 cp 's3:\/\/.*\.sh' '\/opt\/rtc-ha\/dist\/rtc-ha-node.sh'/);
    expect(userData).toMatch(/aws s3 cp 's3:\/\/.*\.js' '\/opt\/rtc-ha\/dist\/main.js'/);
    expect(userData).toContain(
      'bash /opt/rtc-ha/dist/rtc-ha-node.sh install --role media --bundle /opt/rtc-ha/dist/main.js --node-version 24.21.0',
    );
    expect(userData).toContain('bash /opt/rtc-ha/dist/rtc-ha-node.sh configure --role media --region ');
    expect(userData).toMatch(
      /--settings-parameter ",\{"Ref":"RuntimeSettings[0-9A-F]+"\}," --secret RTC_API_SECRET=/,
    );
    expect(userData).toContain('--wait-ready 600');
  });

  it('marks the user data with a digest of the settings, so a settings change rolls the fleet', () => {
    const digestOf = (props: Partial<NodeRuntimeProps>) => {
      const b = build(props);
      return userDataOf(b.stack, b.runtime).match(/settings digest: ([0-9a-f]{16})/)?.[1];
    };
    expect(digestOf({})).toBe(userData.match(/settings digest: ([0-9a-f]{16})/)?.[1]);
    expect(digestOf({ drainDeadlineMs: 60000 })).not.toBe(digestOf({}));
  });

  it('grants exactly the two objects, the settings parameter and the secrets', () => {
    // GIVEN a runtime and a role  WHEN the role is granted read
    const { stack, runtime } = build();
    const role = new iam.Role(stack, 'Node', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    runtime.grantRead(role);
    // THEN
    const [policy] = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'));
    const [objects, parameter, secret] = policy.Properties.PolicyDocument.Statement;
    expect(objects).toMatchObject({ Action: 's3:GetObject', Effect: 'Allow' });
    expect(JSON.stringify(objects.Resource)).toMatch(
      /\/[0-9a-f]{64}\.js"\]\]\},.*\/[0-9a-f]{64}\.sh"\]\]\}\]$/,
    );
    expect(parameter).toMatchObject({
      Action: ['ssm:DescribeParameters', 'ssm:GetParameter', 'ssm:GetParameterHistory', 'ssm:GetParameters'],
    });
    expect(secret).toMatchObject({
      Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
      Resource: { Ref: expect.stringMatching(/^Secret/) },
    });
    expect(JSON.stringify(policy)).not.toContain('*');
  });

  it.each<[string, Partial<NodeRuntimeProps>, RegExp]>([
    ['a malformed Node.js version', { nodeVersion: '24' }, /nodeVersion must be a full Node.js version/],
    ['an odd Node.js major', { nodeVersion: '23.1.0' }, /nodeVersion must be an LTS line .*got 23/],
    ['a Node.js older than 20', { nodeVersion: '18.20.0' }, /nodeVersion must be an LTS line .*got 18/],
    ['a malformed key prefix', { keyPrefix: 'rtc prefix' }, /keyPrefix must be up to 32 letters/],
    [
      'a drain deadline under a second',
      { drainDeadlineMs: 500 },
      /drainDeadlineMs must be an integer from 1000 to 3600000/,
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
      'a variable the script sets',
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
