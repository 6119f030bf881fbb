import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  DEBIAN_IMAGE_VERSION,
  debianImageParameter,
  NodeImage,
  NodeImageProps,
} from '../../../constructs/node-image';
import { installArguments } from '../../../constructs/node-software/node-release';
import { cloudFormationFindings, testApp } from '../support/app';

/** Writes the install script and the app directory with the given contents; returns their paths. */
function sources(script = '#!/bin/bash\necho install\n', main = 'console.log("rtc-ha");\n') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-image-'));
  fs.writeFileSync(path.join(dir, 'rtc-ha-node.sh'), script);
  fs.mkdirSync(path.join(dir, 'app'));
  fs.writeFileSync(path.join(dir, 'app', 'main.js'), main);
  return { script: path.join(dir, 'rtc-ha-node.sh'), app: path.join(dir, 'app') };
}

interface Built {
  readonly app: App;
  readonly stack: Stack;
  readonly image: NodeImage;
  readonly template: Template;
}

function build(
  props: Partial<NodeImageProps> = {},
  files: { script: string; app: string } = sources(),
  vpcProps: ec2.VpcProps = {},
): Built {
  const app = testApp();
  const stack = new Stack(app, 'Test');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1, flowLogs: { All: {} }, ...vpcProps });
  const image = new NodeImage(stack, 'MasterImage', {
    vpc,
    role: 'master',
    script: new s3assets.Asset(stack, 'Script', { path: files.script }),
    app: new s3assets.Asset(stack, 'App', { path: files.app }),
    ...props,
  });
  return { app, stack, image, template: Template.fromStack(stack) };
}

function only<T = Record<string, unknown>>(template: Template, type: string): T {
  const resources = Object.values(template.findResources(type));
  expect(resources).toHaveLength(1);
  return (resources[0] as { Properties: T }).Properties;
}

/** The component's YAML, with the asset bucket (an intrinsic) written as <bucket>. */
function componentData(template: Template): string {
  const data = only<{ Data: { 'Fn::Join': [string, unknown[]] } }>(
    template,
    'AWS::ImageBuilder::Component',
  ).Data;
  return data['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<bucket>')).join('');
}

describe('NodeImage', () => {
  let built: Built;
  beforeAll(() => {
    // GIVEN a VPC, the install script and an app directory  WHEN a master image is defined
    built = build();
  });

  it('builds on the pinned Debian 12 arm64 release, read from its dated public SSM parameter', () => {
    // THEN
    built.template.hasResourceProperties('AWS::ImageBuilder::ImageRecipe', {
      ParentImage: `{{resolve:ssm:/aws/service/debian/release/12/${DEBIAN_IMAGE_VERSION}/arm64}}`,
      Components: [
        { ComponentArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MasterImageComponent'), 'Arn'] } },
      ],
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeType: 'gp3', DeleteOnTermination: true } },
      ],
    });
    expect(JSON.stringify(built.template.toJSON())).not.toContain('/debian/release/12/latest/');
  });

  it('installs the SSM agent on the build instance from the regional bucket, and keeps it in the image', () => {
    // THEN
    const recipe = only<{ AdditionalInstanceConfiguration: Record<string, unknown> }>(
      built.template,
      'AWS::ImageBuilder::ImageRecipe',
    );
    expect(recipe.AdditionalInstanceConfiguration.SystemsManagerAgent).toEqual({
      UninstallAfterBuild: false,
    });
    const userData = JSON.stringify(
      built.stack.resolve(recipe.AdditionalInstanceConfiguration.UserDataOverride),
    );
    expect(userData).toMatch(/^\{"Fn::Base64":/);
    expect(userData).toContain('#!/bin/bash');
    expect(userData).toContain(
      'https://s3.",{"Ref":"AWS::Region"},".",{"Ref":"AWS::URLSuffix"},"/amazon-ssm-',
    );
    expect(userData).toContain('/latest/debian_arm64/amazon-ssm-agent.deb');
    expect(userData).toContain('dpkg -i /tmp/amazon-ssm-agent.deb');
    expect(userData).toContain('systemctl enable --now amazon-ssm-agent');
  });

  it('downloads the script and the app from their assets, unzips the app, and runs exactly the install arguments', () => {
    // THEN
    built.template.hasResourceProperties('AWS::ImageBuilder::Component', {
      Platform: 'Linux',
      Version: Match.stringLikeRegexp('^\\d+\\.\\d+\\.\\d+$'),
    });
    const data = componentData(built.template);
    expect(data).toMatch(
      /action: "S3Download"\n {8}inputs:\n {10}- source: "s3:\/\/<bucket>\/[0-9a-f]{64}\.sh"\n {12}destination: "\/var\/tmp\/rtc-ha-image\/rtc-ha-node\.sh"/,
    );
    expect(data).toMatch(
      /- source: "s3:\/\/<bucket>\/[0-9a-f]{64}\.zip"\n {12}destination: "\/var\/tmp\/rtc-ha-image\/app\.zip"/,
    );
    expect(data).toContain('"command -v unzip >/dev/null || { apt-get update');
    expect(data).toContain('"unzip -q /var/tmp/rtc-ha-image/app.zip -d /var/tmp/rtc-ha-image/app"');
    const install = [
      'bash',
      '/var/tmp/rtc-ha-image/rtc-ha-node.sh',
      ...installArguments('master', '/var/tmp/rtc-ha-image/app'),
    ].join(' ');
    expect(data).toContain(
      [
        '      - name: "Install"',
        '        action: "ExecuteBash"',
        '        inputs:',
        '          commands:',
        '            - "set -euo pipefail"',
        `            - "${install}"`,
        '      - name: "RemoveStage"',
      ].join('\n'),
    );
    expect(data).toContain('schemaVersion: 1.0');
  });

  it("installs an active-standby pair node's image with --role pair", () => {
    // GIVEN  WHEN a pair image is defined
    const { template } = build({ role: 'pair' });
    // THEN
    const data = componentData(template);
    expect(data).toContain('/var/tmp/rtc-ha-image/rtc-ha-node.sh install --role pair --app ');
    const install = [
      'bash',
      '/var/tmp/rtc-ha-image/rtc-ha-node.sh',
      ...installArguments('pair', '/var/tmp/rtc-ha-image/app'),
    ];
    expect(data).toContain(`            - "${install.join(' ')}"\n`);
    template.hasResourceProperties('AWS::ImageBuilder::Component', {
      Description: 'Installs the rtc-ha pair runtime (script and app from S3 assets)',
    });
  });

  it('masks apt timers so nodes fetch nothing from the internet, and checks the agent and the timers', () => {
    const data = componentData(built.template);
    expect(data).toContain('systemctl mask --now apt-daily.timer apt-daily-upgrade.timer');
    expect(data).toMatch(/name: "validate"[\s\S]*"systemctl is-enabled amazon-ssm-agent"[\s\S]*= masked/);
  });

  it('runs the build instance in a private subnet with an egress-only security group, IMDSv2 and terminate on failure', () => {
    // THEN
    built.template.hasResourceProperties('AWS::ImageBuilder::InfrastructureConfiguration', {
      InstanceTypes: ['t4g.small'],
      SubnetId: { Ref: Match.stringLikeRegexp('^VpcPrivateSubnet1Subnet') },
      SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^MasterImageSecurityGroup'), 'GroupId'] }],
      InstanceProfileName: { Ref: Match.stringLikeRegexp('^MasterImageInstanceProfile') },
      TerminateInstanceOnFailure: true,
      InstanceMetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
    });
    built.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: 'rtc-ha master image build instance: egress only',
      SecurityGroupEgress: [{ CidrIp: '0.0.0.0/0', IpProtocol: '-1' }],
      SecurityGroupIngress: Match.absent(),
    });
  });

  it('gives the build instance the SSM and Image Builder policies and read access to just the two objects', () => {
    // THEN
    built.template.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: [
        Match.objectLike({
          'Fn::Join': ['', Match.arrayWith([':iam::aws:policy/AmazonSSMManagedInstanceCore'])],
        }),
        Match.objectLike({
          'Fn::Join': ['', Match.arrayWith([':iam::aws:policy/EC2InstanceProfileForImageBuilder'])],
        }),
      ],
    });
    const [policy] = Object.values(
      built.template.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^MasterImageInstanceRole') }] },
      }),
    ).map((p) => p.Properties as { PolicyDocument: { Statement: unknown[] } });
    expect(policy.PolicyDocument.Statement).toHaveLength(1);
    const [statement] = policy.PolicyDocument.Statement as { Resource: unknown[] }[];
    expect(statement).toMatchObject({ Action: 's3:GetObject', Effect: 'Allow' });
    expect(
      statement.Resource.map((r) => JSON.stringify(r).match(/\/[0-9a-f]{64}\.(sh|zip)"\]\]\}$/)?.[1]).sort(),
    ).toEqual(['sh', 'zip']);
    expect(JSON.stringify(policy)).not.toContain('*');
  });

  it('builds the image in the stack, without a test instance, and exposes its AMI id', () => {
    // THEN
    built.template.hasResourceProperties('AWS::ImageBuilder::Image', {
      ImageRecipeArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MasterImageRecipe'), 'Arn'] },
      InfrastructureConfigurationArn: {
        'Fn::GetAtt': [Match.stringLikeRegexp('^MasterImageInfrastructureConfiguration'), 'Arn'],
      },
      ImageTestsConfiguration: { ImageTestsEnabled: false },
      EnhancedImageMetadataEnabled: false,
    });
    const imageId = { 'Fn::GetAtt': [built.stack.getLogicalId(built.image.image), 'ImageId'] };
    expect(built.stack.resolve(built.image.imageId)).toEqual(imageId);
    const launched = built.image.machineImage.getImage(built.stack);
    expect(built.stack.resolve(launched.imageId)).toEqual(imageId);
    expect(launched.osType).toBe(ec2.OperatingSystemType.LINUX);
  });

  it("starts the build only once the S3 grant and the subnet's route to the internet exist", () => {
    const [image] = Object.values(built.template.findResources('AWS::ImageBuilder::Image'));
    expect(image.DependsOn).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^MasterImageInstanceRoleDefaultPolicy/),
        expect.stringMatching(/^VpcPrivateSubnet1DefaultRoute/),
      ]),
    );
  });

  it('names its Image Builder resources after the stack and construct path, so stacks do not collide', () => {
    const name = Match.stringLikeRegexp('^Test-MasterImage-[A-F0-9]{8}$');
    built.template.hasResourceProperties('AWS::ImageBuilder::Component', { Name: name });
    built.template.hasResourceProperties('AWS::ImageBuilder::ImageRecipe', { Name: name });
    built.template.hasResourceProperties('AWS::ImageBuilder::InfrastructureConfiguration', { Name: name });
  });

  it('builds x86_64 from the amd64 release on a t3.small when the fleet is x86_64', () => {
    // GIVEN an x86_64 fleet  WHEN its image is defined
    const { template } = build({ architecture: ec2.InstanceArchitecture.X86_64 });
    // THEN
    template.hasResourceProperties('AWS::ImageBuilder::ImageRecipe', {
      ParentImage: `{{resolve:ssm:${debianImageParameter(DEBIAN_IMAGE_VERSION, ec2.InstanceArchitecture.X86_64)}}}`,
    });
    template.hasResourceProperties('AWS::ImageBuilder::InfrastructureConfiguration', {
      InstanceTypes: ['t3.small'],
    });
    expect(debianImageParameter('20260101-1', ec2.InstanceArchitecture.X86_64)).toBe(
      '/aws/service/debian/release/12/20260101-1/amd64',
    );
  });

  it('takes the architecture from the build instance type, and a chosen subnet and base release', () => {
    // GIVEN
    const { template } = build({
      instanceType: new ec2.InstanceType('c7i.large'),
      baseImageVersion: '20260821-2577',
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC, availabilityZones: undefined },
    });
    // THEN
    template.hasResourceProperties('AWS::ImageBuilder::ImageRecipe', {
      ParentImage: '{{resolve:ssm:/aws/service/debian/release/12/20260821-2577/amd64}}',
    });
    template.hasResourceProperties('AWS::ImageBuilder::InfrastructureConfiguration', {
      InstanceTypes: ['c7i.large'],
      SubnetId: { Ref: Match.stringLikeRegexp('^VpcPublicSubnet1Subnet') },
    });
  });

  describe('versions', () => {
    const versions = (b: Built) => ({
      component: only<{ Version: string }>(b.template, 'AWS::ImageBuilder::Component').Version,
      recipe: only<{ Version: string }>(b.template, 'AWS::ImageBuilder::ImageRecipe').Version,
      imageLogicalId: b.stack.getLogicalId(b.image.image),
    });

    it('are identical, and so is the whole template, when the inputs are (an unrelated deploy changes nothing)', () => {
      // GIVEN the same script and app, in other files  WHEN defined again
      const again = build();
      // THEN
      expect(again.template.toJSON()).toEqual(built.template.toJSON());
      expect(versions(again).component).toMatch(/^\d+\.\d+\.\d+$/);
    });

    it.each([
      ['the install script', sources('#!/bin/bash\necho install v2\n')],
      ['the runtime bundle', sources(undefined, 'console.log("rtc-ha v2");\n')],
    ])('change with %s, and so does the ImageId the launch template reads', (_, changed) => {
      // GIVEN
      const before = versions(built);
      // WHEN
      const after = build({}, changed);
      // THEN new component and recipe versions. Both are replacement-only properties, and so is the
      // image's ImageRecipeArn: CloudFormation builds a new image, whose ImageId the launch template reads.
      expect(versions(after).component).not.toBe(before.component);
      expect(versions(after).recipe).not.toBe(before.recipe);
      after.template.hasResourceProperties('AWS::ImageBuilder::Image', {
        ImageRecipeArn: { 'Fn::GetAtt': [after.stack.getLogicalId(after.image.recipe), 'Arn'] },
      });
      expect(after.stack.resolve(after.image.imageId)).toEqual({
        'Fn::GetAtt': [after.stack.getLogicalId(after.image.image), 'ImageId'],
      });
    });

    it('change the recipe, not the component, with the Debian pin', () => {
      const after = versions(build({ baseImageVersion: '20260821-2577' }));
      expect(after.component).toBe(versions(built).component);
      expect(after.recipe).not.toBe(versions(built).recipe);
    });

    it('stay put when only the build instance type changes (no rebuild)', () => {
      const after = versions(build({ instanceType: new ec2.InstanceType('t4g.large') }));
      expect(after).toEqual(versions(built));
    });
  });

  it.each<[string, Partial<NodeImageProps>, RegExp]>([
    ['an unknown role', { role: 'edge' as 'master' }, /role must be master, media or pair \(got "edge"\)/],
    [
      'a base release that is not a dated Debian release',
      { baseImageVersion: 'latest' },
      /baseImageVersion must be a Debian cloud image release like 20260923-2610 \(got "latest"\)/,
    ],
    [
      'a build instance of the other architecture',
      { architecture: ec2.InstanceArchitecture.ARM_64, instanceType: new ec2.InstanceType('t3.small') },
      /instanceType must be arm64 like the image \(t3.small is x86_64\)/,
    ],
    [
      'subnets the VPC does not have',
      { vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } },
      /vpcSubnets must select a subnet of the VPC/,
    ],
  ])('rejects %s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  it('rejects a directory as the script and a file as the app', () => {
    const files = sources();
    expect(() => build({}, { script: files.app, app: files.script })).toThrow(
      /script must be a single-file asset[\s\S]*app must be a directory asset/,
    );
  });

  it('lists every problem in one error', () => {
    expect(() => build({ role: 'edge' as 'master', baseImageVersion: 'x' })).toThrow(
      /Invalid NodeImage props:\n {2}- role .*\n {2}- baseImageVersion /,
    );
  });

  it('acknowledges only cdk-nag findings that exist', () => {
    // GIVEN acknowledgements counted and ignored  WHEN the pack checks the image
    const acknowledged: string[] = [];
    const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation((...rules) => {
      // (aws-cdk-lib acknowledges some CloudFormation-Validate rules itself)
      acknowledged.push(...rules.map((r) => r.id).filter((id) => id.startsWith('AwsSolutions-')));
    });
    try {
      const { app } = build();
      const found = new AwsSolutionsChecks(app)
        .validateScope(app)
        .violations.flatMap((v) => v.violatingResources.map(() => v.ruleName));
      // THEN one IAM4 finding per managed policy, each acknowledged once
      expect(found.sort()).toEqual(acknowledged.sort());
      expect(found).toHaveLength(2);
    } finally {
      spy.mockRestore();
    }
  });

  it('leaves no cdk-nag AwsSolutions finding and no CloudFormation validation finding', () => {
    // GIVEN
    const { app } = build();
    const pack = new AwsSolutionsChecks(app);
    // THEN
    expect(pack.validateScope(app).violations).toEqual([]);
    expect(cloudFormationFindings(app)).toEqual([]);
  });
});
