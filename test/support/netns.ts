/** The network namespace scripts/netns-run.sh made for this run, as its environment describes it. */
export interface TestNetwork {
  /** A non-loopback address inside the namespace: what Janus gathers ICE candidates on. */
  readonly iceAddress: string;
  readonly namespace: string;
  /** How long creating the namespace and its veth pair took. */
  readonly setupMs: number;
}

/** Throws unless the tests run inside the runner: media over loopback alone cannot work. */
export function testNetwork(): TestNetwork {
  const { RTC_TEST_ICE_ADDRESS, RTC_TEST_NETNS, RTC_TEST_NETNS_SETUP_MS } = process.env;
  if (!RTC_TEST_ICE_ADDRESS || !RTC_TEST_NETNS) {
    throw new Error(
      'media tests run inside a network namespace: use `npm run test:media` ' +
        '(bash scripts/netns-run.sh jest -c jest.media.config.js), as root',
    );
  }
  return {
    iceAddress: RTC_TEST_ICE_ADDRESS,
    namespace: RTC_TEST_NETNS,
    setupMs: Number(RTC_TEST_NETNS_SETUP_MS),
  };
}
