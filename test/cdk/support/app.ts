import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { SessionStore } from '../../../constructs/session-store';

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

/** What every fleet needs: a session store and an API secret. */
export function fleetDependencies({ stack, vpc }: Fixture): {
  sessionStore: SessionStore;
  apiSecret: secretsmanager.Secret;
} {
  return {
    sessionStore: new SessionStore(stack, 'Store', { vpc }),
    apiSecret: new secretsmanager.Secret(stack, 'ApiSecret'),
  };
}
