import { AssociateAddressCommand, DescribeAddressesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { retrying, type RetryOptions } from '../aws/retry';
import type { AddressArbiter } from './address';

const RETRY: RetryOptions = { attempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 };

/** EC2 for the agent: retries live in the adapter (bounded), so the SDK's own are off. */
export function createEc2Client(region: string): EC2Client {
  return new EC2Client({
    region,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 },
  });
}

/**
 * The pair's Elastic IP as the arbiter: AssociateAddress with AllowReassociation moves it to this
 * instance from wherever it is (one call, one holder: AWS routes it to the last caller), and
 * DescribeAddresses tells who holds it. IAM allows AssociateAddress on this allocation and the two
 * instances only (constructs/standby-pair).
 */
export class ElasticIpArbiter implements AddressArbiter {
  constructor(
    private readonly ec2: EC2Client,
    private readonly allocationId: string,
    private readonly instanceId: string,
  ) {}

  async holder(): Promise<string | undefined> {
    const reply = await retrying(
      () => this.ec2.send(new DescribeAddressesCommand({ AllocationIds: [this.allocationId] })),
      RETRY,
    );
    const address = reply.Addresses?.[0];
    if (!address)
      throw new Error(`Elastic IP ${this.allocationId} not found: check RTC_STANDBY_EIP_ALLOCATION_ID`);
    return address.InstanceId;
  }

  async claim(): Promise<void> {
    await retrying(
      () =>
        this.ec2.send(
          new AssociateAddressCommand({
            AllocationId: this.allocationId,
            InstanceId: this.instanceId,
            AllowReassociation: true,
          }),
        ),
      RETRY,
    );
  }
}
