import { Annotations, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { drainTimeout } from '../node-runtime';
import { MASTER_PORT } from '../shared/defaults';
import { Problems, throwIfProblems } from '../shared/problems';

/** Target health check timings; the defaults are the ALB minimums (docs/architecture.md, "Default timings"). */
export interface SignalingHealthCheckOptions {
  /**
   * Seconds between checks (5 to 300).
   *
   * @default 5
   */
  readonly intervalSeconds?: number;

  /**
   * Seconds before a check fails (2 to 120, less than the interval).
   *
   * @default 2
   */
  readonly timeoutSeconds?: number;

  /**
   * Consecutive successes before a target takes traffic (2 to 10).
   *
   * @default 2
   */
  readonly healthyThreshold?: number;

  /**
   * Consecutive failures before a target stops taking traffic (2 to 10).
   *
   * @default 2
   */
  readonly unhealthyThreshold?: number;
}

/** The part of {@link SignalingLoadBalancerProps} that deployment config sets. */
export interface SignalingLoadBalancerOptions {
  /**
   * ARN of an ACM certificate in the stack's region for HTTPS on port 443; HTTP on port 80 then
   * redirects to it. Needs `domainName`.
   *
   * @default - no HTTPS: HTTP only on port 80, with a synth warning
   */
  readonly certificateArn?: string;

  /**
   * The DNS name clients use, covered by the certificate. Point it at the load balancer yourself
   * (the `LoadBalancerDnsName` output).
   *
   * @default - the load balancer's own DNS name
   */
  readonly domainName?: string;

  /**
   * Seconds an idle connection stays open (1 to 4000). Long, for WebSockets; clients still ping.
   *
   * @default 3600
   */
  readonly idleTimeoutSeconds?: number;

  /**
   * Whether to write access logs to a new S3 bucket. Needs a stack with an explicit region.
   *
   * @default false
   */
  readonly accessLogs?: boolean;

  /**
   * Target health check timings, on `GET /ready`.
   *
   * @default - interval 5 s, timeout 2 s, healthy 2, unhealthy 2
   */
  readonly healthCheck?: SignalingHealthCheckOptions;
}

/** Props of {@link SignalingLoadBalancer}. */
export interface SignalingLoadBalancerProps extends SignalingLoadBalancerOptions {
  /** The VPC; the load balancer goes in its public subnets. */
  readonly vpc: ec2.IVpc;

  /**
   * Port the masters listen on.
   *
   * @default 8080
   */
  readonly targetPort?: number;

  /**
   * How long a deregistering master keeps its connections, whole seconds up to an hour. Auto Scaling
   * deregisters a leaving master before its termination hook, so this must outlast the master's drain:
   * use `drainTimeout(drainDeadlineMs)` of the node runtime.
   *
   * @default - the node runtime's default drain timeout (60 seconds)
   */
  readonly deregistrationDelay?: Duration;
}

/** Days the access logs are kept. */
const ACCESS_LOG_DAYS = 90;

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkSignalingLoadBalancerOptions(
  options: SignalingLoadBalancerOptions,
  prefix = '',
): string[] {
  const problems = new Problems(prefix);
  problems.matches(
    'certificateArn',
    options.certificateArn,
    /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/,
    'an ACM certificate ARN',
  );
  problems.require(
    options.certificateArn === undefined || options.domainName !== undefined,
    'domainName',
    'is required with a certificate: clients must connect to a name the certificate covers',
  );
  problems.matches(
    'domainName',
    options.domainName,
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    'a lowercase DNS name like rtc.example.com',
  );
  problems.integer('idleTimeoutSeconds', options.idleTimeoutSeconds, 1, 4000);
  const hc = options.healthCheck ?? {};
  problems.integers(
    hc,
    {
      intervalSeconds: [5, 300],
      timeoutSeconds: [2, 120],
      healthyThreshold: [2, 10],
      unhealthyThreshold: [2, 10],
    },
    'healthCheck.',
  );
  problems.less(
    'healthCheck.timeoutSeconds',
    hc.timeoutSeconds ?? 2,
    'healthCheck.intervalSeconds',
    hc.intervalSeconds ?? 5,
  );
  return problems.messages;
}

/**
 * The internet-facing Application Load Balancer in front of the masters: HTTPS with an ACM certificate
 * and HTTP redirected to it (or HTTP only, with a warning), WebSocket-friendly idle timeout, invalid
 * header fields dropped, and one target group health-checked on `GET /ready`.
 */
export class SignalingLoadBalancer extends Construct implements ec2.IConnectable {
  /** The load balancer. */
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;

  /** The masters' target group. */
  public readonly targetGroup: elbv2.ApplicationTargetGroup;

  /** Listener on port 80: redirects to HTTPS, or serves HTTP when there is no certificate. */
  public readonly httpListener: elbv2.ApplicationListener;

  /** Listener on port 443, when a certificate is configured. */
  public readonly httpsListener?: elbv2.ApplicationListener;

  /** Bucket of the access logs, when they are on. */
  public readonly accessLogsBucket?: s3.Bucket;

  /** Base URL of the signaling WebSocket (`wss://` with a certificate, `ws://` without). */
  public readonly signalingUrl: string;

  /** Base URL of the REST API (`https://` with a certificate, `http://` without). */
  public readonly restUrl: string;

  /** Network access to the load balancer. */
  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: SignalingLoadBalancerProps) {
    super(scope, id);
    const problems = new Problems();
    problems.integer('targetPort', props.targetPort, 1, 65535);
    const delay = props.deregistrationDelay?.toSeconds({ integral: false });
    problems.require(
      delay === undefined ||
        Token.isUnresolved(delay) ||
        (Number.isInteger(delay) && delay >= 0 && delay <= 3600),
      'deregistrationDelay',
      `must be whole seconds from 0 to 3600 (got ${delay} s)`,
    );
    problems.require(
      !props.accessLogs || !Token.isUnresolved(Stack.of(this).region),
      'accessLogs',
      'needs a stack with an explicit region (ELB log delivery is regional)',
    );
    throwIfProblems('SignalingLoadBalancer props', [
      ...checkSignalingLoadBalancerOptions(props),
      ...problems.messages,
    ]);

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'Resource', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      internetFacing: true,
      idleTimeout: Duration.seconds(props.idleTimeoutSeconds ?? 3600),
      dropInvalidHeaderFields: true,
      http2Enabled: true,
    });
    this.connections = this.loadBalancer.connections;
    for (const sg of this.loadBalancer.connections.securityGroups) {
      Validations.of(sg).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          'Public signaling endpoint: browsers and app back ends anywhere on the internet connect to the ' +
          'listener ports (443, and 80 which only redirects when a certificate is configured).',
      });
    }

    const hc = props.healthCheck ?? {};
    this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc: props.vpc,
      port: props.targetPort ?? MASTER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.INSTANCE,
      deregistrationDelay: props.deregistrationDelay ?? drainTimeout(),
      healthCheck: {
        path: '/ready',
        protocol: elbv2.Protocol.HTTP,
        interval: Duration.seconds(hc.intervalSeconds ?? 5),
        timeout: Duration.seconds(hc.timeoutSeconds ?? 2),
        healthyThresholdCount: hc.healthyThreshold ?? 2,
        unhealthyThresholdCount: hc.unhealthyThreshold ?? 2,
        healthyHttpCodes: '200',
      },
    });

    if (props.certificateArn) {
      this.httpsListener = this.loadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
        defaultTargetGroups: [this.targetGroup],
      });
      this.httpListener = this.loadBalancer.addListener('Http', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
    } else {
      this.httpListener = this.loadBalancer.addListener('Http', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultTargetGroups: [this.targetGroup],
      });
      Annotations.of(this).addWarningV2(
        'rtc-ha:httpOnlyListener',
        'No certificateArn: the load balancer serves plain HTTP and ws:// on port 80. Configure ' +
          'loadBalancer.certificateArn and loadBalancer.domainName for HTTPS and wss:// in production.',
      );
    }

    if (props.accessLogs) {
      this.accessLogsBucket = this.createAccessLogsBucket();
      this.loadBalancer.logAccessLogs(this.accessLogsBucket, 'alb');
    } else {
      Validations.of(this.loadBalancer).acknowledge({
        id: 'AwsSolutions-ELB2',
        reason:
          'Access logs are opt-in (loadBalancer.accessLogs) because they need a regional stack and a log ' +
          'bucket; examples/production.json turns them on.',
      });
    }

    const host = props.domainName ?? this.loadBalancer.loadBalancerDnsName;
    const secure = props.certificateArn !== undefined;
    this.signalingUrl = `${secure ? 'wss' : 'ws'}://${host}`;
    this.restUrl = `${secure ? 'https' : 'http'}://${host}`;
  }

  /** Targets failing the `/ready` check. */
  public metricUnhealthyHosts(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.targetGroup.metrics.unhealthyHostCount({ statistic: cloudwatch.Stats.MAXIMUM, ...options });
  }

  /** Targets passing the `/ready` check. */
  public metricHealthyHosts(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.targetGroup.metrics.healthyHostCount({ statistic: cloudwatch.Stats.MINIMUM, ...options });
  }

  /** Requests the load balancer received. */
  public metricRequests(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.loadBalancer.metrics.requestCount(options);
  }

  /** 5xx responses from the masters. */
  public metricTarget5xx(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.loadBalancer.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, options);
  }

  /** 502/503/504 and other 5xx the load balancer itself answered (no healthy target, timeouts). */
  public metricLoadBalancer5xx(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, options);
  }

  private createAccessLogsBucket(): s3.Bucket {
    const bucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(ACCESS_LOG_DAYS) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket only receives the load balancer access logs; logging requests to it would need yet ' +
        'another log bucket with the same finding.',
    });
    return bucket;
  }
}
