import { ArnFormat, Aws, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct, IConstruct } from 'constructs';

/**
 * The AWS Control Tower proactive controls a construct may have to set aside, by id, with the name of the
 * cfn-guard rule that implements each in `@cdklabs/cdk-validator-cfnguard` (the validation plugin's
 * finding carries the rule name). docs/security.md lists every exception and its reason.
 */
export const CONTROL_TOWER_RULES = {
  'CT.AUTOSCALING.PR.4': 'autoscaling_group_elb_healthcheck_required_check',
  'CT.EC2.PR.3': 'vpc_sg_open_only_to_authorized_ports_check',
  'CT.EC2.PR.8': 'ec2_instance_no_public_ip_check',
  'CT.EC2.PR.9': 'ec2_launch_template_public_ip_disabled_check',
  'CT.ELASTICLOADBALANCING.PR.1': 'alb_http_to_https_redirection_check',
  'CT.ELASTICLOADBALANCING.PR.5': 'elbv2_deletion_protection_enabled_check',
  'CT.ELASTICLOADBALANCING.PR.6': 'elbv2_logging_enabled_check',
  'CT.LAMBDA.PR.3': 'lambda_inside_vpc_check',
  'CT.S3.PR.2': 's3_bucket_logging_enabled_check',
  'CT.S3.PR.9': 's3_bucket_object_lock_enabled_check',
  'CT.S3.PR.10': 's3_bucket_default_encryption_kms_check',
} as const;

/** A Control Tower control id of {@link CONTROL_TOWER_RULES}. */
export type ControlTowerControl = keyof typeof CONTROL_TOWER_RULES;

/** The name of the cfn-guard validation plugin; acknowledgements of its findings are prefixed with it. */
export const CFN_GUARD_PLUGIN = 'cdk-validator-cfnguard';

/**
 * Sets a Control Tower control aside for `scope` and everything under it, with the reason, which the
 * validation report keeps next to the suppressed finding.
 */
export function acknowledgeControl(scope: IConstruct, control: ControlTowerControl, reason: string): void {
  Validations.of(scope).acknowledge({
    id: `${CFN_GUARD_PLUGIN}::${CONTROL_TOWER_RULES[control]}`,
    reason: `${control}: ${reason}`,
  });
}

/**
 * A customer managed KMS key as the Control Tower controls want one: rotated every year (CT.KMS.PR.1),
 * and grants only for AWS resources created by AWS services (CT.KMS.PR.3). The account may use it
 * through IAM policies (the default key policy); services get statements of their own.
 */
export function customerManagedKey(scope: Construct, id: string, description: string): kms.Key {
  const key = new kms.Key(scope, id, { description, enableKeyRotation: true });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'GrantsOnlyForAwsResources',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: {
        BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
      },
    }),
  );
  return key;
}

/** Lets CloudWatch Logs encrypt and decrypt the log groups of this account and region with `key`. */
export function allowCloudWatchLogs(key: kms.Key): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchLogsLogGroups',
      principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
}

/**
 * Sets CT.LAMBDA.PR.3 aside for the handler CDK adds to a stack whose VPC strips its default security
 * group of its rules (`@aws-cdk/aws-ec2:restrictDefaultSecurityGroup`): one per stack, outside any VPC.
 */
export function acknowledgeDefaultSecurityGroupHandler(stack: Stack): void {
  const handler = stack.node.tryFindChild('Custom::VpcRestrictDefaultSGCustomResourceProvider');
  if (!handler) return;
  acknowledgeControl(
    handler,
    'CT.LAMBDA.PR.3',
    "CDK's deploy-time handler that removes every rule of the VPC's default security group (itself a " +
      'control: Security Hub EC2.2). It runs only while CloudFormation creates or deletes the VPC, holds ' +
      'no data and calls only EC2 security group APIs; inside the VPC it configures, it would depend on ' +
      "that VPC's own NAT gateway being up first, and its network interfaces would hold up the VPC's deletion.",
  );
}
