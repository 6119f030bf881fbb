import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { AssetHashType, BundlingOutput, CfnElement, DockerImage, Duration, Lazy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct, IConstruct } from 'constructs';
import { KEY_PREFIX_PATTERN } from '../../runtime/contract/keys';
import type { NodeRole } from '../../runtime/contract/registry';
import { DEFAULT_KEY_PREFIX, DEFAULT_TIMINGS } from '../../runtime/contract/timings';
import { IDENTITY_VARS } from '../../runtime/node/boot';
import { DRAIN_HARD_CAP_MS } from '../../runtime/node/lifecycle';
import { Problems, throwIfProblems } from '../shared/problems';
import { EsbuildBundling } from './esbuild-bundling';

/** The part of {@link NodeSoftwareProps} that deployment config sets: the runtime's settings. */
export interface NodeSoftwareOptions {
  /**
   * Prefix of every registry key (`RTC_KEY_PREFIX`).
   *
   * @default DEFAULT_KEY_PREFIX of runtime/contract ('rtc')
   */
  readonly keyPrefix?: string;

  /**
   * Milliseconds a draining node may keep its sessions before it exits (`RTC_DRAIN_DEADLINE_MS`),
   * 1000 to 3570000: the deadline plus {@link DRAIN_MARGIN} must fit the load balancer's longest
   * deregistration delay, an hour.
   *
   * @default DEFAULT_TIMINGS.drainDeadlineMs of runtime/contract (30000)
   */
  readonly drainDeadlineMs?: number;
}

/** {@link NodeSoftwareOptions} with every default filled in. */
export type ResolvedNodeSoftwareOptions = Required<NodeSoftwareOptions>;

/** Props of {@link NodeSoftware}. */
export interface NodeSoftwareProps extends NodeSoftwareOptions {
  /** Which runtime this is; media nodes also get `RTC_PUBLIC_ADDRESS`. */
  readonly role: NodeRole;

  /**
   * Absolute path of the TypeScript entry point, bundled with esbuild as the app's main.js.
   *
   * @default - runtime/<role>/main.ts of this project
   */
  readonly entry?: string;

  /** Port the runtime listens on (`RTC_PORT`), which serves `GET /ready`. */
  readonly port: number;

  /** Where the node's log shipper sends its journal (`RTC_BOOT_LOG_GROUP`). */
  readonly logGroup: logs.ILogGroup;

  /**
   * More non-secret `RTC_*` settings, stored in the settings parameter.
   *
   * @default - none
   */
  readonly environment?: Record<string, string>;

  /**
   * Secret `RTC_*` settings: the runtime reads each variable from its secret at boot.
   *
   * @default - none
   */
  readonly secrets?: Record<string, secretsmanager.ISecret>;

  /**
   * More `rtc-ha-node configure` arguments, after the boot settings (an active-standby pair's
   * `--media-set RTC_BOOT_NAME=value`: its media agent's own boot settings).
   *
   * @default - none
   */
  readonly configureArguments?: string[];
}

/** Where the image installs the install script, which user data runs as `configure`. */
const NODE_COMMAND = '/opt/rtc-ha/bin/rtc-ha-node';
/** The install script: run by the image build (`install`) and, installed, by user data (`configure`). */
export const BOOTSTRAP_SCRIPT = path.join(__dirname, 'assets', 'rtc-ha-node.sh');
/**
 * Time a node gets past its drain deadline: the runtime's own hard cap, then its CompleteLifecycleAction
 * call and the process exit. The termination hook's timeout, systemd's stop timeout and the load
 * balancer's deregistration delay are all the deadline plus this.
 */
export const DRAIN_MARGIN = Duration.seconds(DRAIN_HARD_CAP_MS / 1000 + 20);
/** The longest deregistration delay a target group takes, so the longest a drain may last. */
export const MAX_DEREGISTRATION_DELAY_SECONDS = 3600;
const VARIABLE_NAME = /^RTC_[A-Z0-9_]+$/;
const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
/** The log shipper, bundled next to every runtime; rtc-ha-logs.service runs it. */
const LOG_SHIPPER_ENTRY = path.join(PROJECT_ROOT, 'runtime', 'log-shipper', 'main.ts');

/** `options` with the runtime's defaults, which runtime/contract owns, filled in. */
export function resolveNodeSoftwareOptions(options: NodeSoftwareOptions = {}): ResolvedNodeSoftwareOptions {
  return {
    keyPrefix: options.keyPrefix ?? DEFAULT_KEY_PREFIX,
    drainDeadlineMs: options.drainDeadlineMs ?? DEFAULT_TIMINGS.drainDeadlineMs,
  };
}

/** How long a node may take to leave once told to: the drain deadline plus {@link DRAIN_MARGIN}. */
export function drainTimeout(options: NodeSoftwareOptions = {}): Duration {
  const { drainDeadlineMs } = resolveNodeSoftwareOptions(options);
  return Duration.seconds(Math.ceil(drainDeadlineMs / 1000) + DRAIN_MARGIN.toSeconds());
}

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkNodeSoftwareOptions(options: NodeSoftwareOptions, prefix = ''): string[] {
  const resolved = resolveNodeSoftwareOptions(options);
  const problems = new Problems(prefix);
  problems.matches(
    'keyPrefix',
    resolved.keyPrefix,
    KEY_PREFIX_PATTERN,
    'up to 32 letters, digits, ":", "_" or "-"',
  );
  const maxDeadlineMs = (MAX_DEREGISTRATION_DELAY_SECONDS - DRAIN_MARGIN.toSeconds()) * 1000;
  problems.integer('drainDeadlineMs', resolved.drainDeadlineMs, 1000, maxDeadlineMs);
  return problems.messages;
}

/**
 * The software of one kind of node, as CloudFormation sees it (the runtime it starts is runtime/node).
 * What the node image bakes in: the install script and the app (the role's entry point and the log
 * shipper, each bundled by esbuild into one file). What each boot reads:
 * the non-secret settings in one SSM parameter, and user data that only runs
 * `rtc-ha-node configure --set RTC_BOOT_...`, naming where the runtime finds its settings, secrets,
 * log group and the resource it signals once ready; the runtime reads them itself with the AWS SDK.
 * Nodes need {@link grantRead}.
 */
export class NodeSoftware extends Construct {
  /** The app directory the image installs as /opt/rtc-ha/app: main.js and log-shipper.js. */
  public readonly app: s3assets.Asset;

  /** The install script the image installs as /opt/rtc-ha/bin/rtc-ha-node. */
  public readonly script: s3assets.Asset;

  /** Non-secret settings, one `RTC_NAME=value` per line. */
  public readonly settings: ssm.StringParameter;

  /** User data that configures and starts the installed runtime. */
  public readonly userData: ec2.UserData;

  /** How long a node may take to leave once told to: the drain deadline plus {@link DRAIN_MARGIN}. */
  public readonly drainTimeout: Duration;

  private readonly secrets: Record<string, secretsmanager.ISecret>;
  private signalTarget?: IConstruct;

  constructor(scope: Construct, id: string, props: NodeSoftwareProps) {
    super(scope, id);
    this.secrets = props.secrets ?? {};
    throwIfProblems('NodeSoftware props', [
      ...checkNodeSoftwareOptions(props),
      ...checkVariables(props.environment ?? {}, this.secrets),
    ]);
    const { keyPrefix, drainDeadlineMs } = resolveNodeSoftwareOptions(props);
    const environment: Record<string, string> = {
      RTC_PORT: String(props.port),
      RTC_KEY_PREFIX: keyPrefix,
      RTC_DRAIN_DEADLINE_MS: String(drainDeadlineMs),
      ...props.environment,
    };
    this.drainTimeout = drainTimeout(props);

    const entry = props.entry ?? path.join(PROJECT_ROOT, 'runtime', props.role, 'main.ts');
    this.app = new s3assets.Asset(this, 'App', {
      path: path.dirname(entry),
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never pulled: local bundling always succeeds or throws.
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:20'),
        local: new EsbuildBundling({ 'main.js': entry, 'log-shipper.js': LOG_SHIPPER_ENTRY }, PROJECT_ROOT),
        outputType: BundlingOutput.NOT_ARCHIVED,
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

    const secretList = Object.entries(this.secrets).map(([name, secret]) => `${name}=${secret.secretArn}`);
    this.userData = ec2.UserData.forLinux();
    this.userData.addCommands(
      // The runtime reads its settings at boot, so user data carries their digest: a change rolls the fleet.
      Lazy.string({ produce: () => `# settings digest: ${digest(Stack.of(this).resolve(settingsValue))}` }),
      Lazy.string({
        produce: () =>
          configureCommand(
            {
              RTC_BOOT_REGION: Stack.of(this).region,
              RTC_BOOT_SETTINGS_PARAMETER: this.settings.parameterName,
              RTC_BOOT_SECRETS: secretList.length > 0 ? secretList.join(',') : undefined,
              RTC_BOOT_LOG_GROUP: props.logGroup.logGroupName,
              ...this.signalVariables(),
            },
            this.drainTimeout,
            props.configureArguments ?? [],
          ),
      }),
    );
  }

  /**
   * Makes every node call CloudFormation's `SignalResource` on `resource` (an Auto Scaling group with a
   * creation or update policy that waits for signals) once it is ready, its instance id as unique id.
   */
  public signalReadyTo(resource: IConstruct): void {
    if (!(resource.node.defaultChild instanceof CfnElement)) {
      throw new Error(`signalReadyTo: ${resource.node.path} is not backed by a CloudFormation resource`);
    }
    this.signalTarget = resource;
  }

  /** Grants what booting reads: the settings parameter and the secrets (any stage of them). */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    let grant = this.settings.grantRead(grantee);
    for (const secret of Object.values(this.secrets)) grant = grant.combine(secret.grantRead(grantee));
    return grant;
  }

  private signalVariables(): Record<string, string> {
    const resource = this.signalTarget;
    if (!resource) return {};
    const stack = Stack.of(resource);
    return {
      RTC_BOOT_SIGNAL_STACK: stack.stackName,
      RTC_BOOT_SIGNAL_RESOURCE: stack.getLogicalId(resource.node.defaultChild as CfnElement),
    };
  }
}

/** `rtc-ha-node configure`: the boot variables (unset ones left out), systemd's stop timeout, `more`. */
function configureCommand(
  variables: Record<string, string | undefined>,
  stopTimeout: Duration,
  more: readonly string[],
): string {
  const sets = Object.entries(variables)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `--set '${name}=${value}'`);
  return [`${NODE_COMMAND} configure`, ...sets, `--stop-timeout ${stopTimeout.toSeconds()}`, ...more].join(
    ' ',
  );
}

function checkVariables(environment: Record<string, string>, secrets: Record<string, unknown>): string[] {
  const problems = new Problems();
  const reserved: readonly string[] = [
    ...IDENTITY_VARS,
    'RTC_PORT',
    'RTC_KEY_PREFIX',
    'RTC_DRAIN_DEADLINE_MS',
  ];
  for (const [field, names] of [
    ['environment', Object.keys(environment)],
    ['secrets', Object.keys(secrets)],
  ] as const) {
    for (const name of names) {
      problems.matches(field, name, VARIABLE_NAME, 'keyed by RTC_* variable names');
      problems.require(
        !reserved.includes(name),
        field,
        `must not set ${name}: NodeSoftware or the boot sets it`,
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
