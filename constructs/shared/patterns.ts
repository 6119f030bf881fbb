import * as logs from 'aws-cdk-lib/aws-logs';

/** The value formats props and configuration are checked against, each in one place. */

/** A lowercase DNS name such as `rtc.example.com`. */
export const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** A Secrets Manager secret's complete ARN: with the 6 characters Secrets Manager appends to its name. */
export const SECRET_COMPLETE_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;

/** Valid EC2 instance type names, e.g. `t4g.small`, `c7gn.2xlarge`, `m7i.metal-24xl`. */
export const INSTANCE_TYPE =
  /^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.(nano|micro|small|medium|large|xlarge|[1-9][0-9]*xlarge|metal|metal-[1-9][0-9]*xl)$/;

/** A dotted IPv4 address. */
export const IPV4 = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$/;

/** An IPv4 CIDR block such as `10.40.0.0/16` (the numbers' ranges are checked where the block is used). */
export const IPV4_CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/;

/** The retention periods CloudWatch Logs takes, in days (`logs.RetentionDays` but "never expire"). */
export const LOG_RETENTION_DAYS = Object.values(logs.RetentionDays).filter(
  (days): days is number => typeof days === 'number' && days !== logs.RetentionDays.INFINITE,
);
