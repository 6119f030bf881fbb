import { App, Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { pairOptions, RtcHaConfig } from './config';
import { ClusterStack } from './stacks/cluster-stack';
import { StandbyStack } from './stacks/standby-stack';

/** What {@link addRtcHa} built. */
export interface RtcHaApp {
  /** The stack of the configured topology: the cluster, or the active-standby pair. */
  readonly stack: ClusterStack | StandbyStack;
  /** The cdk-nag pack checking the app at synth; a violation fails synth. */
  readonly nag: AwsSolutionsChecks;
}

/**
 * Adds the rtc-ha stack of the configured topology to `app` (`topology`: the cluster, or the
 * active-standby pair; docs/topologies.md), with the cdk-nag AwsSolutions pack as a validation plugin.
 */
export function addRtcHa(app: App, config: RtcHaConfig): RtcHaApp {
  const env = stackEnvironment(config);
  const stack =
    config.topology === 'pair'
      ? new StandbyStack(app, config.stackName, { ...pairOptions(config.pair), env })
      : new ClusterStack(app, config.stackName, { config, env });
  const nag = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(nag);
  return { stack, nag };
}

/** The configured account and region; left out, the stack stays environment-agnostic. */
function stackEnvironment(config: RtcHaConfig): Environment | undefined {
  const { account, region } = config.env;
  return account === undefined && region === undefined ? undefined : { account, region };
}
