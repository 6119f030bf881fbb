import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { hostname } from 'node:os';
import type { EnvResult, NodeRole } from '../contract';
import { BootConfig, bootClients, parseBootEnv, readBootEnv, reportBootRetry } from './boot';
import { NodeConfig, exitOnProblems } from './config';
import { Imds } from './imds';
import { boundedDrain, completeTermination, watchTermination } from './lifecycle';
import { Logger, createLogger } from './log';
import { runNode } from './process';
import type { NodeHandle } from './runtime';
import { signalResource, whenFirstReady } from './signal';

/** One node program (the master, the media agent) as its entry file describes it. */
export interface NodeProgram<C extends NodeConfig> {
  /** Name in configuration errors, e.g. `rtc-master`. */
  readonly program: string;
  readonly role: NodeRole;
  /** The variables the role's parser reads (boot mode fetches only those secrets). */
  readonly variables: readonly string[];
  /** The role's one config parser, over the process environment or the boot-resolved one. */
  readonly fromEnv: (env: NodeJS.ProcessEnv) => EnvResult<C>;
  readonly start: (config: C, log: Logger) => Promise<NodeHandle>;
}

/** Boot mode's connections to AWS. */
interface Boot {
  readonly config: BootConfig;
  readonly imds: Imds;
  readonly cfn: CloudFormationClient;
  readonly autoScaling: AutoScalingClient;
}

/**
 * Resolves the configuration (boot mode: from SSM, Secrets Manager and IMDS; otherwise from the
 * environment), parses it with the role's parser (every problem on stderr, exit 2, and a FAILURE
 * signal in boot mode), then runs the node. In boot mode it also signals SUCCESS once first ready
 * and drains on a termination lifecycle hook.
 */
export async function runNodeProgram<C extends NodeConfig>(program: NodeProgram<C>): Promise<void> {
  const bootEnv = parseBootEnv(process.env);
  if (!bootEnv.ok) exitOnProblems(program.program, bootEnv.problems);
  const boot = bootEnv.config && connect(bootEnv.config);

  let env: NodeJS.ProcessEnv = process.env;
  if (boot) {
    const resolved = await readBootEnv(
      boot.config,
      program.role,
      new Set(program.variables),
      bootClients(boot.config.region, boot.imds),
      reportBootRetry(program.program),
    ).catch((err: unknown): EnvResult<never> => ({
      ok: false,
      problems: [`reading the boot configuration: ${(err as Error).message}`],
    }));
    if (!resolved.ok) await failBoot(program.program, boot, resolved.problems);
    else env = resolved.config;
  }
  const parsed = program.fromEnv(env);
  if (!parsed.ok) {
    if (boot) await failBoot(program.program, boot, parsed.problems);
    exitOnProblems(program.program, parsed.problems);
  }

  const config = parsed.config;
  const log = createLogger(config.nodeId);
  runNode(
    log,
    () => program.start(config, log),
    (node, stopAndExit) => {
      if (!boot) return;
      const { signal } = boot.config;
      if (signal) {
        whenFirstReady(
          () => node.readiness(),
          () => void signalResource(boot.cfn, signal, config.instanceId, 'SUCCESS', log),
        );
      }
      const hookName = config.lifecycleHookName;
      if (!hookName) return;
      watchTermination({
        imds: boot.imds,
        log,
        onTerminating: () =>
          stopAndExit(async () => {
            const outcome = await boundedDrain(() => node.drain(), config.drainDeadlineMs);
            // Not completing only delays the termination until the hook times out: log, exit 0.
            await completeTermination(boot.autoScaling, hookName, config.instanceId).then(
              () => log.info('lifecycle_completed', { drain: outcome }),
              (err: unknown) => log.error('lifecycle_complete_failed', { drain: outcome, error: err }),
            );
          }),
      });
    },
  );
}

function connect(config: BootConfig): Boot {
  const { region } = config;
  return {
    config,
    imds: new Imds(),
    cfn: new CloudFormationClient({ region }),
    autoScaling: new AutoScalingClient({ region }),
  };
}

/** Signals FAILURE (when a signal is configured), then reports every problem and exits 2. */
async function failBoot(programName: string, boot: Boot, problems: string[]): Promise<never> {
  const { signal } = boot.config;
  if (signal) {
    // The instance id names the signal; without IMDS any unique id still fails the update.
    const instanceId = (await boot.imds.get('instance-id').catch(() => undefined)) ?? hostname();
    await signalResource(boot.cfn, signal, instanceId, 'FAILURE', createLogger(instanceId));
  }
  exitOnProblems(programName, problems);
}
