// Lambda entry of the FleetWatchdog construct; the logic lives in runtime/watchdog.
import { createHandler } from '../../runtime/watchdog/lambda';

export const handler = createHandler();
