import { AssociateAddressCommand, DescribeAddressesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { ElasticIpArbiter } from '../../runtime/standby/elastic-ip';

const ec2 = mockClient(EC2Client);
const ALLOCATION = 'eipalloc-0123456789abcdef0';
const SELF = 'i-0aaaaaaaaaaaaaaaa';
const PEER = 'i-0bbbbbbbbbbbbbbbb';

const arbiter = () => new ElasticIpArbiter(new EC2Client({ region: 'eu-west-1' }), ALLOCATION, SELF);
const throttled = () => Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded' });

beforeEach(() => ec2.reset());

describe('ElasticIpArbiter (the pair’s Elastic IP as its one holder)', () => {
  test('claim moves the address to this instance from wherever it is (AllowReassociation)', async () => {
    ec2.on(AssociateAddressCommand).resolves({ AssociationId: 'eipassoc-1' });
    await arbiter().claim();
    expect(ec2).toHaveReceivedCommandTimes(AssociateAddressCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(AssociateAddressCommand, {
      AllocationId: ALLOCATION,
      InstanceId: SELF,
      AllowReassociation: true,
    });
  });

  test('claim retries throttling, then gives up with the error', async () => {
    ec2.on(AssociateAddressCommand).rejectsOnce(throttled()).resolves({ AssociationId: 'eipassoc-2' });
    await arbiter().claim();
    expect(ec2).toHaveReceivedCommandTimes(AssociateAddressCommand, 2);

    ec2.reset();
    ec2.on(AssociateAddressCommand).rejects(throttled());
    await expect(arbiter().claim()).rejects.toThrow(/Request limit exceeded/);
    expect(ec2).toHaveReceivedCommandTimes(AssociateAddressCommand, 4);
  });

  test('claim does not retry what retrying cannot fix (IAM refused it)', async () => {
    ec2.on(AssociateAddressCommand).rejects(
      Object.assign(new Error('not authorized to perform: ec2:AssociateAddress'), {
        name: 'UnauthorizedOperation',
      }),
    );
    await expect(arbiter().claim()).rejects.toThrow(/not authorized/);
    expect(ec2).toHaveReceivedCommandTimes(AssociateAddressCommand, 1);
  });

  test.each([
    ['this instance', [{ AllocationId: ALLOCATION, InstanceId: SELF }], SELF],
    ['the peer', [{ AllocationId: ALLOCATION, InstanceId: PEER }], PEER],
    ['nobody (not associated)', [{ AllocationId: ALLOCATION }], undefined],
  ])('holder names %s', async (_, Addresses, expected) => {
    ec2.on(DescribeAddressesCommand, { AllocationIds: [ALLOCATION] }).resolves({ Addresses });
    await expect(arbiter().holder()).resolves.toBe(expected);
  });

  test('holder of an allocation that does not exist says which variable to fix', async () => {
    ec2.on(DescribeAddressesCommand).resolves({ Addresses: [] });
    await expect(arbiter().holder()).rejects.toThrow(
      /eipalloc-0123456789abcdef0 not found: check RTC_STANDBY_EIP_ALLOCATION_ID/,
    );
  });
});
