import { Annotations, Duration, Names, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { DEFAULT_PORTS, DEFAULT_TIMINGS } from '../../runtime/contract/timings';
import { drainTimeout, MAX_DEREGISTRATION_DELAY_SECONDS } from '../node-software';
import { acknowledgeControl } from '../shared/controls';
import { DNS_NAME } from '../shared/patterns';
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

/** An AWS WAF web ACL in front of the load balancer. */
export interface SignalingWafOptions {
  /**
   * Put a web ACL with a rate-based rule in front of the load balancer.
   *
   * @default false
   */
  readonly enabled?: boolean;

  /**
   * Requests one client IPv4 address may make in any 5 minutes (100 to 2,000,000,000) before the web ACL
   * answers it 429 until its rate falls again. Every WebSocket (re)connection and every REST call counts;
   * messages on an open WebSocket do not. Keep it above your app back end's REST rate, which comes from
   * few addresses.
   *
   * @default 2000
   */
  readonly rateLimit?: number;
}

/** A Route 53 public hosted zone of this account, in which the load balancer gets its name. */
export interface SignalingHostedZoneOptions {
  /** The zone's id, like `Z0123456789ABCDEFGHIJ`. */
  readonly id: string;

  /** The zone's name, like `example.com`. */
  readonly name: string;

  /**
   * The record's name within the zone, like `rtc`: clients connect to `rtc.example.com`.
   *
   * @default - the zone's apex: clients connect to `example.com`
   */
  readonly recordName?: string;
}

/** The part of {@link SignalingLoadBalancerProps} that deployment config sets. */
export interface SignalingLoadBalancerOptions {
  /**
   * ARN of an ACM certificate in the stack's region for HTTPS on port 443; HTTP on port 80 then
   * redirects to it. Needs `domainName` (or `hostedZone`).
   *
   * @default - with `hostedZone`, a new certificate validated in that zone; without, no HTTPS: HTTP
   * only on port 80, with a synth warning
   */
  readonly certificateArn?: string;

  /**
   * The DNS name clients use, covered by the certificate. Point it at the load balancer yourself
   * (the `LoadBalancerDnsName` output). Left out with `hostedZone`, which names it.
   *
   * @default - with `hostedZone`, its record's name; without, the load balancer's own DNS name
   */
  readonly domainName?: string;

  /**
   * A Route 53 public hosted zone in this account: the load balancer gets an alias record there, and,
   * unless `certificateArn` is given, a new ACM certificate for that name, validated by DNS in the zone.
   *
   * @default - no DNS record and no certificate of its own
   */
  readonly hostedZone?: SignalingHostedZoneOptions;

  /**
   * Seconds an idle connection stays open (1 to 4000). Long, for WebSockets; clients still ping.
   *
   * @default DEFAULT_TIMINGS.albIdleTimeoutSeconds of runtime/contract (3600)
   */
  readonly idleTimeoutSeconds?: number;

  /**
   * Whether to serve over plain HTTP (and `ws://`) when there is no certificate, with a synth warning:
   * the REST API's secret and the clients' connection tokens then cross the internet in clear text.
   * `false` refuses a configuration without a certificate.
   *
   * @default true
   */
  readonly allowPlainHttp?: boolean;

  /**
   * An AWS WAF web ACL with a rate-based rule per client address.
   *
   * @default - none
   */
  readonly waf?: SignalingWafOptions;

  /**
   * Whether to write access logs to a new S3 bucket. Needs a stack with an explicit region.
   *
   * @default false
   */
  readonly accessLogs?: boolean;

  /**
   * Whether the load balancer refuses to be deleted (CloudFormation, the console or the API), until
   * this is turned off again. Its DNS name is what clients and the app's DNS record point at.
   *
   * @default false
   */
  readonly deletionProtection?: boolean;

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
  readonly deletionProtection: boolean;
  readonly allowPlainHttp: boolean;
  readonly waf: Required<SignalingWafOptions>;
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
/** Days an access log object overwritten or deleted before its time stays recoverable. */
const ACCESS_LOG_PREVIOUS_VERSION_DAYS = 30;

/** `options` with every default filled in. */
export function resolveSignalingLoadBalancerOptions(
  options: SignalingLoadBalancerOptions = {},
): ResolvedSignalingLoadBalancerOptions {
  const { intervalSeconds, timeoutSeconds, healthyThreshold, unhealthyThreshold } = DEFAULT_TIMINGS.albCheck;
  return {
    ...options,
    domainName: options.domainName ?? (options.hostedZone && zoneDomainName(options.hostedZone)),
    idleTimeoutSeconds: options.idleTimeoutSeconds ?? DEFAULT_TIMINGS.albIdleTimeoutSeconds,
    accessLogs: options.accessLogs ?? false,
    deletionProtection: options.deletionProtection ?? false,
    allowPlainHttp: options.allowPlainHttp ?? true,
    waf: { enabled: options.waf?.enabled ?? false, rateLimit: options.waf?.rateLimit ?? 2000 },
    healthCheck: {
      intervalSeconds: options.healthCheck?.intervalSeconds ?? intervalSeconds,
      timeoutSeconds: options.healthCheck?.timeoutSeconds ?? timeoutSeconds,
      healthyThreshold: options.healthCheck?.healthyThreshold ?? healthyThreshold,
      unhealthyThreshold: options.healthCheck?.unhealthyThreshold ?? unhealthyThreshold,
    },
  };
}

/** One or more lowercase DNS labels, such as `rtc` or `eu.rtc`. */
const DNS_LABELS = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Whether the load balancer gets HTTPS: a certificate given, or one made in the hosted zone. */
function hasCertificate(options: SignalingLoadBalancerOptions): boolean {
  return options.certificateArn !== undefined || options.hostedZone !== undefined;
}

/** The name a hosted zone's record gives the load balancer. */
function zoneDomainName({ name, recordName }: SignalingHostedZoneOptions): string {
  return recordName ? `${recordName}.${name}` : name;
}

/** A hosted zone's id and names are well formed, and it names the domain alone. */
function checkHostedZone(problems: Problems, options: SignalingLoadBalancerOptions): void {
  const zone = options.hostedZone;
  if (!zone) return;
  problems.require(
    options.domainName === undefined,
    'domainName',
    'must be left out with hostedZone, whose recordName and name make it',
  );
  problems.matches(
    'hostedZone.id',
    zone.id,
    /^Z[A-Z0-9]{1,31}$/,
    'a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ',
  );
  problems.matches('hostedZone.name', zone.name, DNS_NAME, 'a lowercase DNS name like example.com');
  problems.matches('hostedZone.recordName', zone.recordName, DNS_LABELS, 'lowercase DNS labels like rtc');
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
    options.certificateArn === undefined || resolved.domainName !== undefined,
    'domainName',
    'is required with a certificate: clients must connect to a name the certificate covers',
  );
  problems.require(
    resolved.allowPlainHttp || hasCertificate(options),
    'certificateArn',
    'is required while allowPlainHttp is false (production turns it off): without a certificate the REST ' +
      "API's secret and the clients' tokens cross the internet in clear text. Set certificateArn and " +
      'domainName, or hostedZone (a certificate is then made), or set allowPlainHttp to true to accept plain HTTP',
  );
  checkHostedZone(problems, options);
  problems.integer('waf.rateLimit', resolved.waf.rateLimit, 100, 2_000_000_000);
  problems.matches('domainName', options.domainName, DNS_NAME, 'a lowercase DNS name like rtc.example.com');
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
 * (given, or made and validated in a Route 53 hosted zone, which also gets an alias record) and HTTP
 * redirected to it (or HTTP only, with a warning, unless refused), WebSocket-friendly idle timeout,
 * invalid header fields dropped, optionally deletion protection, access logs and a rate-limiting AWS WAF
 * web ACL, and one target group health-checked on `GET /ready`.
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

  /** The web ACL in front of the load balancer, when `waf.enabled`. */
  public readonly webAcl?: wafv2.CfnWebACL;

  /** The certificate made for `hostedZone`'s name, when no `certificateArn` is given. */
  public readonly certificate?: acm.Certificate;

  /** The alias record in `hostedZone`, when one is given. */
  public readonly aliasRecord?: route53.ARecord;

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
      deletionProtection: resolved.deletionProtection,
    });
    if (!resolved.deletionProtection) {
      acknowledgeControl(
        this.loadBalancer,
        'CT.ELASTICLOADBALANCING.PR.5',
        'deletionProtection is off (the development default): cdk destroy removes the cluster. Production turns it on.',
      );
    }
    this.connections = this.loadBalancer.connections;
    for (const sg of this.loadBalancer.connections.securityGroups) {
      Validations.of(sg).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          'Public signaling endpoint: browsers and app back ends anywhere on the internet connect to the ' +
          'listener ports (443, and 80 which only redirects when a certificate is configured).',
      });
    }

    if (resolved.waf.enabled) this.webAcl = this.addWebAcl(resolved.waf.rateLimit);

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

    const zone =
      props.hostedZone &&
      route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', {
        hostedZoneId: props.hostedZone.id,
        zoneName: props.hostedZone.name,
      });
    const domainName = resolved.domainName;
    if (zone && domainName && !props.certificateArn) {
      this.certificate = new acm.Certificate(this, 'Certificate', {
        domainName,
        validation: acm.CertificateValidation.fromDns(zone),
      });
    }
    const certificate = props.certificateArn
      ? elbv2.ListenerCertificate.fromArn(props.certificateArn)
      : this.certificate && elbv2.ListenerCertificate.fromCertificateManager(this.certificate);

    if (certificate) {
      this.httpsListener = this.loadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [certificate],
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
      acknowledgeControl(
        this.httpListener,
        'CT.ELASTICLOADBALANCING.PR.1',
        'no certificate (the development default): there is no HTTPS listener to redirect to, and synth warns. ' +
          'With a certificate, HTTP only redirects to HTTPS.',
      );
      Annotations.of(this).addWarningV2(
        'rtc-ha:httpOnlyListener',
        'No certificateArn: the load balancer serves plain HTTP and ws:// on port 80. Configure ' +
          'loadBalancer.certificateArn and loadBalancer.domainName (or loadBalancer.hostedZone) for HTTPS ' +
          'and wss:// in production.',
      );
    }

    if (zone) {
      this.aliasRecord = new route53.ARecord(this, 'AliasRecord', {
        zone,
        recordName: domainName,
        target: route53.RecordTarget.fromAlias(new route53targets.LoadBalancerTarget(this.loadBalancer)),
      });
    }

    if (resolved.accessLogs) {
      this.accessLogsBucket = this.createAccessLogsBucket();
      this.loadBalancer.logAccessLogs(this.accessLogsBucket, 'alb');
    } else {
      const reason =
        'Access logs are opt-in (loadBalancer.accessLogs) because they need a regional stack and a log ' +
        'bucket; examples/production.json turns them on.';
      Validations.of(this.loadBalancer).acknowledge({ id: 'AwsSolutions-ELB2', reason });
      acknowledgeControl(this.loadBalancer, 'CT.ELASTICLOADBALANCING.PR.6', reason);
    }

    const host = domainName ?? this.loadBalancer.loadBalancerDnsName;
    const secure = certificate !== undefined;
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

  /**
   * A regional web ACL that lets everything through but a client address over `rateLimit` requests in
   * 5 minutes, which gets 429 until its rate falls again; metrics and sampled requests on.
   */
  private addWebAcl(rateLimit: number): wafv2.CfnWebACL {
    const metricName = Names.uniqueResourceName(this, { maxLength: 100 });
    const visibility = (name: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName: name,
    });
    const webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      description: 'rtc-ha signaling: a request rate limit per client address',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(metricName),
      rules: [
        {
          name: 'RateLimitPerAddress',
          priority: 0,
          statement: {
            rateBasedStatement: { aggregateKeyType: 'IP', limit: rateLimit, evaluationWindowSec: 300 },
          },
          action: { block: { customResponse: { responseCode: 429 } } },
          visibilityConfig: visibility(`${metricName}RateLimit`),
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.loadBalancer.loadBalancerArn,
      webAclArn: webAcl.attrArn,
    });
    return webAcl;
  }

  /**
   * A private, SSL-only, versioned bucket that keeps the logs 90 days and announces each new log object
   * on EventBridge's default bus (for a log pipeline to pick up).
   */
  private createAccessLogsBucket(): s3.Bucket {
    const bucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: [
        {
          expiration: Duration.days(ACCESS_LOG_DAYS),
          noncurrentVersionExpiration: Duration.days(ACCESS_LOG_PREVIOUS_VERSION_DAYS),
        },
        { expiredObjectDeleteMarker: true },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Set on the resource itself: the L2's eventBridgeEnabled deploys a notification handler Lambda.
    (bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };
    const terminal =
      'This bucket only receives the load balancer access logs; logging requests to it would need yet ' +
      'another log bucket with the same finding.';
    Validations.of(bucket).acknowledge({ id: 'AwsSolutions-S1', reason: terminal });
    acknowledgeControl(bucket, 'CT.S3.PR.2', terminal);
    acknowledgeControl(
      bucket,
      'CT.S3.PR.10',
      'Elastic Load Balancing delivers access logs only to buckets encrypted with S3 managed keys (SSE-S3), ' +
        'not with KMS keys.',
    );
    acknowledgeControl(
      bucket,
      'CT.S3.PR.9',
      'A default Object Lock retention makes S3 refuse every upload without a Content-MD5 or checksum header, ' +
        "and Elastic Load Balancing's log delivery does not document sending one; Object Lock without a retention " +
        'protects nothing. Versioning keeps an overwritten or deleted log object 30 days instead.',
    );
    return bucket;
  }
}
