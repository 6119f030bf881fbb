import { App, Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RtcHaConfig } from './config';
import { ClusterStack } from './stacks/cluster-stack';

/** What {@link addRtcHa} built. */
export interface RtcHaApp {
  /** The cluster stack. */
  readonly stack: ClusterStack;
  /** The cdk-nag pack checking the app at synth; a violation fails synth. */
  readonly nag: AwsSolutionsChecks;
}

/** Adds the rtc-ha stacks to `app`, with the cdk-nag AwsSolutions pack as a validation plugin. */
export function addRtcHa(app: App, config: RtcHaConfig): RtcHaApp {
  const stack = new ClusterStack(app, config.stackName, { config, env: stackEnvironment(config) });
  const nag = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(nag);
  return { stack, nag };
}

/** The configured account and region; left out, the stack stays environment-agnostic. */
function stackEnvironment(config: RtcHaConfig): Environment | undefined {
  const { account, region } = config.env;
  return account === undefined && region === undefined ? undefined : { account, region };
}
