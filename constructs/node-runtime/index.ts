import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { AssetHashType, BundlingOutput, DockerImage, Lazy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { KEY_PREFIX_PATTERN } from '../../runtime/contract/keys';
import { Construct } from 'constructs';
import { DRAIN_DEADLINE_MS, KEY_PREFIX, NODE_VERSION } from '../shared/defaults';
import { Problems, throwIfProblems } from '../shared/problems';
import { BUNDLE_FILE, EsbuildBundling } from './esbuild-bundling';

/** Which runtime a node runs. */
export type NodeRole = 'master' | 'media';

/** The part of {@link NodeRuntimeProps} that deployment config sets. */
export interface NodeRuntimeOptions {
  /**
   * Node.js release installed on the nodes: an LTS line (even major), 20 or later.
   *
   * @default '24.21.0'
   */
  readonly nodeVersion?: string;

  /**
   * Prefix of every registry key (`RTC_KEY_PREFIX`).
   *
   * @default 'rtc'
   */
  readonly keyPrefix?: string;

  /**
   * Milliseconds a draining node may keep its sessions before it exits (`RTC_DRAIN_DEADLINE_MS`),
   * 1000 to 3600000.
   *
   * @default 30000
   */
  readonly drainDeadlineMs?: number;
}

/** Props of {@link NodeRuntime}. */
export interface NodeRuntimeProps extends NodeRuntimeOptions {
  /** Which runtime this is; media nodes also get `RTC_PUBLIC_ADDRESS`. */
  readonly role: NodeRole;

  /**
   * Absolute path of the TypeScript entry point, bundled with esbuild.
   *
   * @default - runtime/<role>/main.ts of this project
   */
  readonly entry?: string;

  /** Port the runtime listens on (`RTC_PORT`); boot waits for `GET /ready` on it. */
  readonly port: number;

  /**
   * More non-secret `RTC_*` settings, stored in the settings parameter.
   *
   * @default - none
   */
  readonly environment?: Record<string, string>;

  /**
   * Secret `RTC_*` settings: each variable is read from its secret at boot.
   *
   * @default - none
   */
  readonly secrets?: Record<string, secretsmanager.ISecret>;
}

/** Where the nodes keep the downloaded script and bundle. */
const DIST_DIR = '/opt/rtc-ha/dist';
/** How long boot waits for `GET /ready` before it reports failure to CloudFormation. */
export const READY_TIMEOUT_SECONDS = 600;
/** Variables the bootstrap script itself writes. */
const SCRIPT_VARIABLES = [
  'RTC_NODE_ID',
  'RTC_INSTANCE_ID',
  'RTC_LISTEN_HOST',
  'RTC_ADVERTISE_ADDRESS',
  'RTC_PUBLIC_ADDRESS',
];
const VARIABLE_NAME = /^RTC_[A-Z0-9_]+$/;
/** The bootstrap script, shared with AMI builds. */
export const BOOTSTRAP_SCRIPT = path.join(__dirname, 'assets', 'rtc-ha-node.sh');
const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkNodeRuntimeOptions(options: NodeRuntimeOptions, prefix = ''): string[] {
  const problems = new Problems(prefix);
  const version = options.nodeVersion;
  problems.matches('nodeVersion', version, /^\d+\.\d+\.\d+$/, 'a full Node.js version like 24.21.0');
  const major = Number(version?.split('.')[0]);
  problems.require(
    version === undefined || Number.isNaN(major) || (major >= 20 && major % 2 === 0),
    'nodeVersion',
    `must be an LTS line (an even major version, 20 or later; got ${major})`,
  );
  problems.matches(
    'keyPrefix',
    options.keyPrefix,
    KEY_PREFIX_PATTERN,
    'up to 32 letters, digits, ":", "_" or "-"',
  );
  problems.integer('drainDeadlineMs', options.drainDeadlineMs, 1000, 3_600_000);
  return problems.messages;
}

/**
 * The runtime of one kind of node, ready for a launch template: the entry point bundled with esbuild
 * into an S3 asset, the bootstrap script as another, the non-secret settings in one SSM parameter, and
 * user data that downloads both, installs them (`rtc-ha-node.sh install`), then writes
 * `/etc/rtc-ha/rtc-ha.env` from IMDSv2, the parameter and the secrets and waits for `GET /ready`
 * (`rtc-ha-node.sh configure`). Nodes need {@link grantRead}.
 */
export class NodeRuntime extends Construct {
  /** The runtime bundle: one JavaScript file. */
  public readonly bundle: s3assets.Asset;

  /** The bootstrap script. */
  public readonly script: s3assets.Asset;

  /** Non-secret settings, one `RTC_NAME=value` per line. */
  public readonly settings: ssm.StringParameter;

  /** User data that installs, configures and starts the runtime. */
  public readonly userData: ec2.UserData;

  private readonly secrets: secretsmanager.ISecret[];

  constructor(scope: Construct, id: string, props: NodeRuntimeProps) {
    super(scope, id);
    const environment: Record<string, string> = {
      RTC_PORT: String(props.port),
      RTC_KEY_PREFIX: props.keyPrefix ?? KEY_PREFIX,
      RTC_DRAIN_DEADLINE_MS: String(props.drainDeadlineMs ?? DRAIN_DEADLINE_MS),
      ...props.environment,
    };
    const secrets = props.secrets ?? {};
    throwIfProblems('NodeRuntime props', [
      ...checkNodeRuntimeOptions(props),
      ...checkVariables(props.environment ?? {}, secrets),
    ]);
    this.secrets = Object.values(secrets);

    const entry = props.entry ?? path.join(PROJECT_ROOT, 'runtime', props.role, 'main.ts');
    this.bundle = new s3assets.Asset(this, 'Bundle', {
      path: path.dirname(entry),
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never pulled: local bundling always succeeds or throws.
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:20'),
        local: new EsbuildBundling(entry, PROJECT_ROOT),
        outputType: BundlingOutput.SINGLE_FILE,
      },
    });
    this.script = new s3assets.Asset(this, 'Script', { path: BOOTSTRAP_SCRIPT });

    const settingsValue = Object.entries(environment)
      .map(([name, value]) => `${name}=${value}`)
      .join('\n');
    this.settings = new ssm.StringParameter(this, 'Settings', {
      description: `rtc-ha ${props.role} settings: non-secret RTC_* variables, read at boot`,
      stringValue: settingsValue,
    });

    const region = Stack.of(this).region;
    this.userData = ec2.UserData.forLinux();
    this.userData.addCommands('set -euo pipefail');
    const script = this.userData.addS3DownloadCommand({
      bucket: this.script.bucket,
      bucketKey: this.script.s3ObjectKey,
      localFile: `${DIST_DIR}/rtc-ha-node.sh`,
      region,
    });
    const bundle = this.userData.addS3DownloadCommand({
      bucket: this.bundle.bucket,
      bucketKey: this.bundle.s3ObjectKey,
      localFile: `${DIST_DIR}/${BUNDLE_FILE}`,
      region,
    });
    const nodeVersion = props.nodeVersion ?? NODE_VERSION;
    this.userData.addCommands(
      // Settings are read at boot, so user data carries their digest: a change rolls the fleet.
      Lazy.string({ produce: () => `# settings digest: ${digest(Stack.of(this).resolve(settingsValue))}` }),
      `bash ${script} install --role ${props.role} --bundle ${bundle} --node-version ${nodeVersion}`,
      [
        `bash ${script} configure --role ${props.role} --region ${region}`,
        `--settings-parameter ${this.settings.parameterName}`,
        ...Object.entries(secrets).map(([name, secret]) => `--secret ${name}=${secret.secretArn}`),
        `--wait-ready ${READY_TIMEOUT_SECONDS}`,
      ].join(' '),
    );
  }

  /** Grants what booting needs: the two objects, the settings parameter and the secrets. */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    let grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.bundle, this.script].map((asset) => asset.bucket.arnForObjects(asset.s3ObjectKey)),
    });
    grant = grant.combine(this.settings.grantRead(grantee));
    for (const secret of this.secrets) grant = grant.combine(secret.grantRead(grantee));
    return grant;
  }
}

function checkVariables(environment: Record<string, string>, secrets: Record<string, unknown>): string[] {
  const problems = new Problems();
  const reserved = [...SCRIPT_VARIABLES, 'RTC_PORT', 'RTC_KEY_PREFIX', 'RTC_DRAIN_DEADLINE_MS'];
  for (const [field, names] of [
    ['environment', Object.keys(environment)],
    ['secrets', Object.keys(secrets)],
  ] as const) {
    for (const name of names) {
      problems.matches(field, name, VARIABLE_NAME, 'keyed by RTC_* variable names');
      problems.require(
        !reserved.includes(name),
        field,
        `must not set ${name}: the runtime construct sets it`,
      );
    }
  }
  for (const name of Object.keys(secrets)) {
    problems.require(!(name in environment), 'secrets', `must not repeat ${name} from environment`);
  }
  return problems.messages;
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
