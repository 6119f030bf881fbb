import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** What SSM Session Manager needs on the node: the agent's registration and its message channels. */
const SESSION_MANAGER_ACTIONS = [
  'ec2messages:AcknowledgeMessage',
  'ec2messages:DeleteMessage',
  'ec2messages:FailMessage',
  'ec2messages:GetEndpoint',
  'ec2messages:GetMessages',
  'ec2messages:SendReply',
  'ssm:UpdateInstanceInformation',
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
];

/**
 * Lets instances with `role` use SSM Session Manager (instead of SSH keys): a policy of its own named
 * `SessionManagerPolicy` in `scope`, with only the actions Session Manager needs.
 */
export function allowSessionManager(scope: Construct, role: iam.IRole): iam.Policy {
  const policy = new iam.Policy(scope, 'SessionManagerPolicy', {
    roles: [role],
    statements: [new iam.PolicyStatement({ actions: SESSION_MANAGER_ACTIONS, resources: ['*'] })],
  });
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'SSM Session Manager (instead of SSH keys): the ssmmessages and ec2messages actions have no ' +
      'resource-level permissions, and ssm:UpdateInstanceInformation only the calling instance, whose id ' +
      'is unknown before launch. Unlike AmazonSSMManagedInstanceCore it reads no SSM parameter.',
  });
  return policy;
}
