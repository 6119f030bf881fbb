/** Master process entry (the CDK bundles this file): configuration from the environment. */
import { createLogger } from '../node/log';
import { runNode } from '../node/process';
import { loadMasterConfig } from './config';
import { startMaster } from './master';

const config = loadMasterConfig();
const log = createLogger(config.nodeId);
runNode(log, () => startMaster(config, log));
