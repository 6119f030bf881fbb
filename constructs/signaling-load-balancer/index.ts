import { Annotations, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_PORTS, DEFAULT_TIMINGS } from '../../runtime/contract/timings';
import { drainTimeout, MAX_DEREGISTRATION_DELAY_SECONDS } from '../node-software';
import { Problems, throwIfProblems } from '../shared/problems';

/**
 * Target health check timings. The defaults, the ALB minimums, are the contract's
 * (`DEFAULT_TIMINGS.albCheck` in runtime/contract/timings.ts; docs/architecture.md, "Default timings").
 */
export interface SignalingHealthCheckOptions {
  /**
   * Seconds between checks (5 to 300).
   *
   * @default DEFAULT_TIMINGS.albCheck.intervalSeconds (5)
   */
  readonly intervalSeconds?: number;

  /**
   * Seconds before a check fails (2 to 120, less than the interval).
   *
   * @default DEFAULT_TIMINGS.albCheck.timeoutSeconds (2)
   */
  readonly timeoutSeconds?: number;

  /**
   * Consecutive successes before a target takes traffic (2 to 10).
   *
   * @default DEFAULT_TIMINGS.albCheck.healthyThreshold (2)
   */
  readonly healthyThreshold?: number;

  /**
   * Consecutive failures before a target stops taking traffic (2 to 10).
   *
   * @default DEFAULT_TIMINGS.albCheck.unhealthyThreshold (2)
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
   * @default DEFAULT_TIMINGS.albIdleTimeoutSeconds of runtime/contract (3600)
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
   * @default - the defaults of {@link SignalingHealthCheckOptions}
   */
  readonly healthCheck?: SignalingHealthCheckOptions;
}

/** {@link SignalingLoadBalancerOptions} with every default filled in; the unset ones stay unset. */
export interface ResolvedSignalingLoadBalancerOptions extends SignalingLoadBalancerOptions {
  readonly idleTimeoutSeconds: number;
  readonly accessLogs: boolean;
  readonly healthCheck: Required<SignalingHealthCheckOptions>;
}

/** Props of {@link SignalingLoadBalancer}. */
export interface SignalingLoadBalancerProps extends SignalingLoadBalancerOptions {
  /** The VPC; the load balancer goes in its public subnets. */
  readonly vpc: ec2.IVpc;

  /**
   * Port the masters listen on.
   *
   * @default DEFAULT_PORTS.master of runtime/contract (8080)
   */
  readonly targetPort?: number;

  /**
   * How long a deregistering master keeps its connections, whole seconds up to an hour. Auto Scaling
   * deregisters a leaving master before its termination hook, so this must outlast the master's drain:
   * use `drainTimeout(runtime)` of the node software.
   *
   * @default - `drainTimeout()` of the node software: the default drain deadline plus its margin
   */
  readonly deregistrationDelay?: Duration;
}

/** Days the access logs are kept. */
const ACCESS_LOG_DAYS = 90;

/** `options` with every default filled in. */
export function resolveSignalingLoadBalancerOptions(
  options: SignalingLoadBalancerOptions = {},
): ResolvedSignalingLoadBalancerOptions {
  const { intervalSeconds, timeoutSeconds, healthyThreshold, unhealthyThreshold } = DEFAULT_TIMINGS.albCheck;
  return {
    ...options,
    idleTimeoutSeconds: options.idleTimeoutSeconds ?? DEFAULT_TIMINGS.albIdleTimeoutSeconds,
    accessLogs: options.accessLogs ?? false,
    healthCheck: {
      intervalSeconds: options.healthCheck?.intervalSeconds ?? intervalSeconds,
      timeoutSeconds: options.healthCheck?.timeoutSeconds ?? timeoutSeconds,
      healthyThreshold: options.healthCheck?.healthyThreshold ?? healthyThreshold,
      unhealthyThreshold: options.healthCheck?.unhealthyThreshold ?? unhealthyThreshold,
    },
  };
}

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkSignalingLoadBalancerOptions(
  options: SignalingLoadBalancerOptions,
  prefix = '',
): string[] {
  const resolved = resolveSignalingLoadBalancerOptions(options);
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
  problems.integer('idleTimeoutSeconds', resolved.idleTimeoutSeconds, 1, 4000);
  const hc = resolved.healthCheck;
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
    hc.timeoutSeconds,
    'healthCheck.intervalSeconds',
    hc.intervalSeconds,
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
    problems.duration(
      'deregistrationDelay',
      props.deregistrationDelay,
      'seconds',
      0,
      MAX_DEREGISTRATION_DELAY_SECONDS,
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
    const resolved = resolveSignalingLoadBalancerOptions(props);

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'Resource', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      internetFacing: true,
      idleTimeout: Duration.seconds(resolved.idleTimeoutSeconds),
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

    const hc = resolved.healthCheck;
    this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc: props.vpc,
      port: props.targetPort ?? DEFAULT_PORTS.master,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.INSTANCE,
      deregistrationDelay: props.deregistrationDelay ?? drainTimeout(),
      healthCheck: {
        path: DEFAULT_TIMINGS.albCheck.path,
        protocol: elbv2.Protocol.HTTP,
        interval: Duration.seconds(hc.intervalSeconds),
        timeout: Duration.seconds(hc.timeoutSeconds),
        healthyThresholdCount: hc.healthyThreshold,
        unhealthyThresholdCount: hc.unhealthyThreshold,
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

    if (resolved.accessLogs) {
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
