import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, CloudFormationValidatePlugin, Stack, StackProps } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { IWatchedFleet } from '../../../constructs/fleet-watchdog';
import { SessionStoreCluster } from '../../../constructs/session-store-cluster';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..', '..');

/** cdk.json's context: the feature flags the app runs with. */
export function cdkContext(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')).context;
}

/**
 * An app with the project's feature flags. The built-in CloudFormation validation (several seconds to
 * start its engine) stays off unless asked for: the stack tests run it on the whole app. Warnings stay
 * in the construct metadata (where `Annotations` assertions read them) instead of being printed at
 * every synth.
 */
export function testApp(options: { context?: Record<string, unknown>; validation?: boolean } = {}): App {
  return new App({
    context: { ...cdkContext(), [ANNOTATIONS_IN_REPORT]: false, ...options.context },
    builtinCloudFormationValidation: options.validation ?? false,
  });
}

const ANNOTATIONS_IN_REPORT = '@aws-cdk/core:annotationsInValidationReport';

/** What aws-cdk-lib's CloudFormation validation plugin finds in the stacks `app` synthesizes. */
export function cloudFormationFindings(app: App): unknown[] {
  const assembly = app.synth();
  const stackTemplates = assembly.stacks.map((s) => ({
    stackConstructPath: s.hierarchicalId,
    templatePath: path.join(assembly.directory, s.templateFile),
    accountId: undefined,
    region: undefined,
  }));
  return new CloudFormationValidatePlugin().validate({
    templatePaths: stackTemplates.map((s) => s.templatePath),
    stackTemplates,
    appConstruct: app,
  }).violations;
}

/** What a construct test builds on: a stack in a fresh app, and a VPC like the network construct's. */
export interface Fixture {
  readonly app: App;
  readonly stack: Stack;
  readonly vpc: ec2.Vpc;
}

export function fixture(props?: StackProps): Fixture {
  const app = testApp();
  const stack = new Stack(app, 'Test', props);
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  return { app, stack, vpc };
}

/** What the fleets need: a session store, an API secret, the media control secret both hold, TURN's secret. */
export function fleetDependencies({ stack, vpc }: Fixture): {
  sessionStore: SessionStoreCluster;
  apiSecret: secretsmanager.Secret;
  controlSecret: secretsmanager.Secret;
  mediaControlSecret: secretsmanager.Secret;
  turnSecret: secretsmanager.Secret;
} {
  const controlSecret = new secretsmanager.Secret(stack, 'MediaControlSecret');
  return {
    sessionStore: new SessionStoreCluster(stack, 'Store', { vpc }),
    apiSecret: new secretsmanager.Secret(stack, 'ApiSecret'),
    controlSecret,
    mediaControlSecret: controlSecret,
    turnSecret: new secretsmanager.Secret(stack, 'TurnSecret'),
  };
}

/**
 * A fleet as the watchdog sees it, around a bare Auto Scaling group: a master fleet of three by
 * default. The cluster stack passes its NodeFleets, which grant the same way.
 */
export function watchedFleet(
  autoScalingGroup: autoscaling.IAutoScalingGroup,
  more: Partial<IWatchedFleet> = {},
): IWatchedFleet {
  return {
    autoScalingGroup,
    connections: new ec2.Connections(),
    port: 8080,
    minCapacity: 3,
    grantSetInstanceHealth: (grantee) =>
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['autoscaling:SetInstanceHealth'],
        resourceArns: [autoScalingGroup.autoScalingGroupArn],
      }),
    ...more,
  };
}

/**
 * The template with each IAM statement's resources in a stable order: CDK orders them by their full
 * text, asset hashes included, so a source edit could swap two (masked) assets in the snapshot.
 */
export function withPolicyResourcesSorted(template: unknown): unknown {
  const masked = (v: unknown) => JSON.stringify(v).replace(/[0-9a-f]{64}/g, '');
  return JSON.parse(JSON.stringify(template), (key, value: unknown) =>
    key === 'Resource' && Array.isArray(value)
      ? [...value].sort((a, b) => masked(a).localeCompare(masked(b)))
      : value,
  );
}
