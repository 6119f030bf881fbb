/** Media agent process entry (the CDK bundles this file): configuration from the environment. */
import { createLogger } from '../node/log';
import { runNode } from '../node/process';
import { startMediaAgent } from './agent';
import { loadMediaConfig } from './config';

const config = loadMediaConfig();
const log = createLogger(config.nodeId);
runNode(log, () => startMediaAgent(config, log));
