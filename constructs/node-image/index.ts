import { createHash } from 'node:crypto';
import {
  Aws,
  CfnDynamicReference,
  CfnDynamicReferenceService,
  Fn,
  Lazy,
  Names,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct, IDependable } from 'constructs';
import { installArguments, type ImageRole } from '../node-software/node-release';
import { Problems, throwIfProblems } from '../shared/problems';

/**
 * The Debian 12 cloud image the node image is built on, as Debian's cloud team versions its releases
 * (`YYYYMMDD-BUILD`, the same for arm64 and amd64). Bump it to take a Debian point release or
 * security fixes; that rebuilds the image and rolls the fleets.
 */
export const DEBIAN_IMAGE_VERSION = '20260923-2610';

/** The public SSM parameter that holds the AMI id of one Debian 12 release for one architecture. */
export function debianImageParameter(version: string, architecture: ec2.InstanceArchitecture): string {
  return `/aws/service/debian/release/12/${version}/${debianArchitecture(architecture)}`;
}

/** Props of {@link NodeImage}. */
export interface NodeImageProps {
  /** The VPC the build instance runs in. */
  readonly vpc: ec2.IVpc;

  /** Which runtime the image carries: a master's, a media node's, or an active-standby pair node's. */
  readonly role: ImageRole;

  /** The install script (`rtc-ha-node.sh`), a single-file asset. */
  readonly script: s3assets.Asset;

  /** The runtime's app directory (holding main.js), a directory asset, which CDK uploads as a zip. */
  readonly app: s3assets.Asset;

  /**
   * CPU architecture of the image: that of the fleet's instance type.
   *
   * @default - the architecture of `instanceType`, else arm64
   */
  readonly architecture?: ec2.InstanceArchitecture;

  /**
   * Instance type of the build instance; its architecture must be the image's.
   *
   * @default - t4g.small for arm64, t3.small for x86_64
   */
  readonly instanceType?: ec2.InstanceType;

  /**
   * The Debian 12 cloud image release to build on (`YYYYMMDD-BUILD`, see
   * https://cloud.debian.org/images/cloud/bookworm/). Changing it rebuilds the image.
   *
   * @default DEBIAN_IMAGE_VERSION
   */
  readonly baseImageVersion?: string;

  /**
   * Where the build instance runs: one subnet with a route to the internet (it installs the SSM agent,
   * Debian packages and Node.js). The first selected subnet is used.
   *
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
}

/** Where the build stages the script and the app; removed once they are installed. */
const STAGE = '/var/tmp/rtc-ha-image';
const DEFAULT_BUILD_INSTANCE: Record<ec2.InstanceArchitecture, string> = {
  [ec2.InstanceArchitecture.ARM_64]: 't4g.small',
  [ec2.InstanceArchitecture.X86_64]: 't3.small',
};
const IMAGE_VERSION = /^\d{8}-\d+$/;
/** Characters that need no shell quoting. */
const SHELL_WORD = /^[A-Za-z0-9_./=:-]+$/;

/**
 * The rtc-ha node image of one role, baked by EC2 Image Builder inside the stack, so one `cdk deploy`
 * builds it and the launch templates read its {@link imageId}. The build instance starts from Debian 12
 * (arm64 or x86_64), gets the SSM agent from the region's SSM agent bucket through user data (Debian's
 * AMIs lack the agent Image Builder drives builds with; the image keeps it for Session Manager), then
 * one component downloads the install script and the app from their S3 assets and runs exactly
 * `bash rtc-ha-node.sh install <installArguments(role, appDir)>`. Build instances may use the internet;
 * nodes booted from the image fetch nothing from it (apt's timers are masked).
 *
 * The base image is pinned: not `/aws/service/debian/release/12/latest/<arch>`, which Debian moves at
 * every release and would change the image the next time anything else in the recipe changes, but the
 * dated parameter of one release (`DEBIAN_IMAGE_VERSION`, overridable by `baseImageVersion`), which
 * Debian never rewrites. The component's and the recipe's versions are digests of their whole content
 * (the assets' hashes, the install arguments with the pinned Node.js release, the base image), so a
 * deploy that changes none of them changes nothing, while a new script, app, Node.js or Debian pin
 * makes a new image, a new launch template version, and a rolling update of the fleet.
 */
export class NodeImage extends Construct {
  /** The image's AMI id (a token): what the fleet's launch template boots. */
  public readonly imageId: string;

  /** The image as a machine image for `ec2.LaunchTemplate` or an Auto Scaling group. */
  public readonly machineImage: ec2.IMachineImage;

  /** The image's CPU architecture. */
  public readonly architecture: ec2.InstanceArchitecture;

  /** The component that installs the runtime. */
  public readonly component: imagebuilder.CfnComponent;

  /** The recipe: Debian 12, the SSM agent, the component. */
  public readonly recipe: imagebuilder.CfnImageRecipe;

  /** Where and how the build instance runs. */
  public readonly infrastructureConfiguration: imagebuilder.CfnInfrastructureConfiguration;

  /** The image build. */
  public readonly image: imagebuilder.CfnImage;

  /** The build instance's role. */
  public readonly instanceRole: iam.Role;

  /** The build instance's security group: egress only. */
  public readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NodeImageProps) {
    super(scope, id);
    const architecture =
      props.architecture ?? props.instanceType?.architecture ?? ec2.InstanceArchitecture.ARM_64;
    const instanceType = props.instanceType ?? new ec2.InstanceType(DEFAULT_BUILD_INSTANCE[architecture]);
    const baseImageVersion = props.baseImageVersion ?? DEBIAN_IMAGE_VERSION;
    const subnets = selectSubnets(props);
    throwIfProblems('NodeImage props', [...checkNodeImageProps(props, architecture), ...subnets.problems]);
    this.architecture = architecture;
    const stack = Stack.of(this);
    const name = Names.uniqueResourceName(this, { maxLength: 100, separator: '-' });

    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `rtc-ha ${props.role} image build instance`,
      managedPolicies: ['AmazonSSMManagedInstanceCore', 'EC2InstanceProfileForImageBuilder'].map((p) =>
        iam.ManagedPolicy.fromAwsManagedPolicyName(p),
      ),
    });
    Validations.of(this.instanceRole).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason:
          'Image Builder drives the build instance through SSM; this AWS-maintained policy is what the ' +
          'agent needs, and its ssmmessages/ec2messages actions have no resource-level scoping.',
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/EC2InstanceProfileForImageBuilder]',
        reason:
          'The AWS-maintained policy Image Builder requires on build instances (its component and ' +
          'log access), kept current by AWS as the service changes.',
      },
    );
    iam.Grant.addToPrincipal({
      grantee: this.instanceRole,
      actions: ['s3:GetObject'],
      resourceArns: [props.script, props.app].map((a) => a.bucket.arnForObjects(a.s3ObjectKey)),
    });
    const instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.instanceRole });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `rtc-ha ${props.role} image build instance: egress only`,
      allowAllOutbound: true,
    });

    // Image Builder versions are immutable: each version is a digest of everything else in the
    // resource, so it changes exactly when the content does.
    const componentProps = {
      name,
      platform: 'Linux',
      description: `Installs the rtc-ha ${props.role} runtime (script and app from S3 assets)`,
      data: componentDocument(props, name),
    };
    this.component = new imagebuilder.CfnComponent(this, 'Component', {
      ...componentProps,
      version: Lazy.string({ produce: () => semanticVersion(stack.resolve(componentProps)) }),
    });

    const parentImage = new CfnDynamicReference(
      CfnDynamicReferenceService.SSM,
      debianImageParameter(baseImageVersion, architecture),
    ).toString();
    const recipeProps = {
      name,
      description: `rtc-ha ${props.role} node: Debian 12 ${baseImageVersion} (${architecture}) and the runtime`,
      parentImage,
      components: [{ componentArn: this.component.attrArn }],
      blockDeviceMappings: [
        // The root volume of Debian's AMIs; encrypted so the image's snapshot is.
        {
          deviceName: '/dev/xvda',
          ebs: { encrypted: true, volumeType: 'gp3', deleteOnTermination: true },
        },
      ],
      additionalInstanceConfiguration: {
        // Kept: nodes need the agent for Session Manager.
        systemsManagerAgent: { uninstallAfterBuild: false },
        userDataOverride: Fn.base64(ssmAgentUserData(architecture)),
      },
    };
    this.recipe = new imagebuilder.CfnImageRecipe(this, 'Recipe', {
      ...recipeProps,
      // The component's version stands for the component (its ARN is a token).
      version: Lazy.string({
        produce: () =>
          semanticVersion(stack.resolve({ ...recipeProps, components: [this.component.version] })),
      }),
    });

    this.infrastructureConfiguration = new imagebuilder.CfnInfrastructureConfiguration(
      this,
      'InfrastructureConfiguration',
      {
        name,
        description: `rtc-ha ${props.role} image build instance`,
        instanceProfileName: instanceProfile.instanceProfileName,
        instanceTypes: [instanceType.toString()],
        subnetId: subnets.subnetId,
        securityGroupIds: [this.securityGroup.securityGroupId],
        terminateInstanceOnFailure: true,
        instanceMetadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1 },
      },
    );

    this.image = new imagebuilder.CfnImage(this, 'Resource', {
      imageRecipeArn: this.recipe.attrArn,
      infrastructureConfigurationArn: this.infrastructureConfiguration.attrArn,
      // The fleet's rolling update (each new node must answer GET /ready) is the image's real test;
      // a test instance here would add ~10 minutes and check nothing more.
      imageTestsConfiguration: { imageTestsEnabled: false },
      // Its inventory needs SSM Inventory support for the OS; nothing here reads it.
      enhancedImageMetadataEnabled: false,
    });
    // The build starts at once: its instance needs the S3 grant and the subnet's route out in place.
    this.image.node.addDependency(this.instanceRole);
    if (subnets.connectivity) this.image.node.addDependency(subnets.connectivity);
    this.imageId = this.image.attrImageId;
    this.machineImage = {
      getImage: () => ({
        imageId: this.imageId,
        osType: ec2.OperatingSystemType.LINUX,
        userData: ec2.UserData.forLinux(),
      }),
    };
  }
}

/** Lists every problem of `props` (`architecture` being the one resolved from them). */
function checkNodeImageProps(props: NodeImageProps, architecture: ec2.InstanceArchitecture): string[] {
  const problems = new Problems();
  problems.require(
    ['master', 'media', 'pair'].includes(props.role),
    'role',
    `must be master, media or pair (got "${props.role}")`,
  );
  problems.matches(
    'baseImageVersion',
    props.baseImageVersion,
    IMAGE_VERSION,
    'a Debian cloud image release like 20260923-2610',
  );
  if (props.instanceType) {
    problems.require(
      props.instanceType.architecture === architecture,
      'instanceType',
      `must be ${architecture} like the image (${props.instanceType} is ${props.instanceType.architecture})`,
    );
  }
  problems.require(!props.script.isZipArchive, 'script', 'must be a single-file asset, not a directory');
  problems.require(props.app.isZipArchive, 'app', 'must be a directory asset (uploaded as a zip)');
  return problems.messages;
}

/** The build subnet, or why there is none. */
function selectSubnets(props: NodeImageProps): {
  subnetId?: string;
  connectivity?: IDependable;
  problems: string[];
} {
  try {
    const selected = props.vpc.selectSubnets(
      props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    );
    if (selected.subnetIds.length > 0) {
      return {
        subnetId: selected.subnetIds[0],
        connectivity: selected.internetConnectivityEstablished,
        problems: [],
      };
    }
    return { problems: ['vpcSubnets must select at least one subnet'] };
  } catch (e) {
    return { problems: [`vpcSubnets must select a subnet of the VPC (${(e as Error).message})`] };
  }
}

/**
 * The component: stage the script and the app, run the install script exactly as
 * {@link installArguments} says, remove the stage; then check what the nodes rely on.
 */
function componentDocument(props: NodeImageProps, name: string): string {
  const script = `${STAGE}/rtc-ha-node.sh`;
  const appZip = `${STAGE}/app.zip`;
  const appDir = `${STAGE}/app`;
  const bash = (stepName: string, commands: string[]) => ({
    name: stepName,
    action: 'ExecuteBash',
    inputs: { commands: ['set -euo pipefail', ...commands] },
  });
  const download = (stepName: string, asset: s3assets.Asset, destination: string) => ({
    name: stepName,
    action: 'S3Download',
    inputs: [{ source: `s3://${asset.s3BucketName}/${asset.s3ObjectKey}`, destination }],
  });
  return yaml({
    name,
    description: `rtc-ha ${props.role} runtime`,
    schemaVersion: new Raw('1.0'),
    phases: [
      {
        name: 'build',
        steps: [
          bash('MaskAptTimers', [
            // Debian's cloud images run unattended-upgrades; nodes must fetch nothing from the
            // internet, and OS updates arrive as a new image instead (a new baseImageVersion).
            'systemctl mask --now apt-daily.timer apt-daily-upgrade.timer',
            // Wait out a run the timers already started, so the build's apt-get finds the lock free.
            'systemd-run --wait --quiet --property=After=apt-daily.service --property=After=apt-daily-upgrade.service /bin/true',
          ]),
          bash('Stage', [
            `rm -rf ${STAGE} && mkdir -p ${STAGE}`,
            // Debian's cloud images have no unzip.
            'command -v unzip >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip; }',
          ]),
          download('DownloadScript', props.script, script),
          download('DownloadApp', props.app, appZip),
          bash('UnpackApp', [`unzip -q ${appZip} -d ${appDir}`]),
          bash('Install', [
            ['bash', script, ...installArguments(props.role, appDir)].map(shellWord).join(' '),
          ]),
          bash('RemoveStage', [`rm -rf ${STAGE}`]),
        ],
      },
      {
        name: 'validate',
        steps: [
          bash('SsmAgentEnabled', ['systemctl is-enabled amazon-ssm-agent']),
          bash('AptTimersMasked', [
            'for t in apt-daily.timer apt-daily-upgrade.timer; do [ "$(systemctl is-enabled "$t" || true)" = masked ]; done',
          ]),
        ],
      },
    ],
  });
}

/** Build instance user data: the SSM agent, from the region's bucket, as AWS documents for Debian. */
function ssmAgentUserData(architecture: ec2.InstanceArchitecture): string {
  const bucket = `amazon-ssm-${Aws.REGION}`;
  const url = `https://s3.${Aws.REGION}.${Aws.URL_SUFFIX}/${bucket}/latest/debian_${debianArchitecture(architecture)}/amazon-ssm-agent.deb`;
  return [
    '#!/bin/bash',
    '# Debian has no SSM agent; Image Builder drives the build through it and the image keeps it.',
    'set -euo pipefail',
    'if ! dpkg-query -W amazon-ssm-agent >/dev/null 2>&1; then',
    `  curl -fsSL --retry 5 -o /tmp/amazon-ssm-agent.deb ${url}`,
    '  dpkg -i /tmp/amazon-ssm-agent.deb',
    '  rm -f /tmp/amazon-ssm-agent.deb',
    'fi',
    'systemctl enable --now amazon-ssm-agent',
    '',
  ].join('\n');
}

function debianArchitecture(architecture: ec2.InstanceArchitecture): string {
  return architecture === ec2.InstanceArchitecture.ARM_64 ? 'arm64' : 'amd64';
}

/**
 * An Image Builder version (`major.minor.patch`, each below 2^30) that is a digest of `content`: equal
 * content, equal version; any change, a new one.
 */
function semanticVersion(content: unknown): string {
  const hex = createHash('sha256').update(JSON.stringify(content)).digest('hex');
  return [0, 7, 14].map((i) => parseInt(hex.slice(i, i + 7), 16)).join('.');
}

function shellWord(word: string): string {
  if (SHELL_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A YAML scalar written as is (`schemaVersion: 1.0` is a number to Image Builder). */
class Raw {
  constructor(public readonly text: string) {}
}

/** Block YAML with every string double-quoted (JSON strings are YAML strings): no YAML library needed. */
function yaml(value: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    return value.map((item) => `${indent}- ${yaml(item, `${indent}  `).trimStart()}`).join('\n');
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Raw)) {
    return Object.entries(value)
      .map(([key, v]) =>
        v !== null && typeof v === 'object' && !(v instanceof Raw)
          ? `${indent}${key}:\n${yaml(v, `${indent}  `)}`
          : `${indent}${key}: ${yaml(v)}`,
      )
      .join('\n');
  }
  return value instanceof Raw ? value.text : JSON.stringify(value);
}
