import { Duration } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { drainTimeout } from '../../../constructs/node-software';
import {
  SignalingLoadBalancer,
  SignalingLoadBalancerProps,
} from '../../../constructs/signaling-load-balancer';
import { Fixture, fixture } from '../support/app';

const CERTIFICATE = 'arn:aws:acm:eu-west-1:111122223333:certificate/0f0e0d0c-0b0a-4909-8807-060504030201';
const REGIONAL = { env: { region: 'eu-west-1' } };

type Built = Fixture & { lb: SignalingLoadBalancer };

function build(props: Partial<SignalingLoadBalancerProps> = {}, f: Fixture = fixture()): Built {
  return { ...f, lb: new SignalingLoadBalancer(f.stack, 'Lb', { vpc: f.vpc, ...props }) };
}

describe('SignalingLoadBalancer', () => {
  describe('without a certificate', () => {
    let built: Built;
    let template: Template;
    beforeAll(() => {
      // GIVEN no certificate  WHEN the load balancer is built
      built = build();
      template = Template.fromStack(built.stack);
    });

    it('is internet-facing, drops invalid header fields and keeps idle WebSockets for an hour', () => {
      // THEN
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
        Scheme: 'internet-facing',
        LoadBalancerAttributes: Match.arrayWith([
          { Key: 'idle_timeout.timeout_seconds', Value: '3600' },
          { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
        ]),
      });
    });

    it('serves plain HTTP on port 80 and warns about it', () => {
      template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 80,
        Protocol: 'HTTP',
        DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: Match.stringLikeRegexp('LbTargets') } }],
      });
      Annotations.fromStack(built.stack).hasWarning('/Test/Lb', Match.stringLikeRegexp('No certificateArn'));
      expect(built.lb.signalingUrl).toMatch(/^ws:\/\//);
      expect(built.lb.restUrl).toMatch(/^http:\/\//);
    });

    it('checks the masters on GET /ready with the docs/architecture.md timings, and outlasts their drain', () => {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        Port: 8080,
        Protocol: 'HTTP',
        TargetType: 'instance',
        HealthCheckPath: '/ready',
        HealthCheckIntervalSeconds: 5,
        HealthCheckTimeoutSeconds: 2,
        HealthyThresholdCount: 2,
        UnhealthyThresholdCount: 2,
        Matcher: { HttpCode: '200' },
        TargetGroupAttributes: Match.arrayWith([
          // The default drain deadline (30 s) plus the node runtime's margin.
          { Key: 'deregistration_delay.timeout_seconds', Value: String(drainTimeout().toSeconds()) },
        ]),
      });
    });

    it('writes no access logs', () => {
      template.resourceCountIs('AWS::S3::Bucket', 0);
    });
  });

  describe('with a certificate, a domain and access logs', () => {
    let built: Built;
    let template: Template;
    beforeAll(() => {
      // GIVEN a regional stack  WHEN the load balancer gets a certificate, a domain and access logs
      built = build(
        { certificateArn: CERTIFICATE, domainName: 'rtc.example.com', accessLogs: true },
        fixture(REGIONAL),
      );
      template = Template.fromStack(built.stack);
    });

    it('serves HTTPS on 443 with the certificate and redirects HTTP to it', () => {
      // THEN
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 443,
        Protocol: 'HTTPS',
        Certificates: [{ CertificateArn: CERTIFICATE }],
      });
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 80,
        DefaultActions: [
          { Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } },
        ],
      });
      Annotations.fromStack(built.stack).hasNoWarning('*', Match.anyValue());
    });

    it('gives wss:// and https:// URLs on the domain', () => {
      expect(built.lb.signalingUrl).toBe('wss://rtc.example.com');
      expect(built.lb.restUrl).toBe('https://rtc.example.com');
    });

    it('logs to an encrypted, private, SSL-only, versioned bucket that expires logs after 90 days', () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: {
          Rules: [
            Match.objectLike({
              ExpirationInDays: 90,
              NoncurrentVersionExpiration: { NoncurrentDays: 30 },
              Status: 'Enabled',
            }),
            Match.objectLike({ ExpiredObjectDeleteMarker: true, Status: 'Enabled' }),
          ],
        },
        // Each new log object is announced on EventBridge's default bus, with no handler Lambda.
        NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
      });
      template.resourceCountIs('Custom::S3BucketNotifications', 0);
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
        LoadBalancerAttributes: Match.arrayWith([{ Key: 'access_logs.s3.enabled', Value: 'true' }]),
      });
      expect(built.lb.accessLogsBucket).toBeDefined();
    });
  });

  it('puts a web ACL in front that answers 429 to an address over its rate, when asked to', () => {
    const { stack, lb } = build({ waf: { enabled: true, rateLimit: 500 } });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Rules: [
        Match.objectLike({
          Statement: { RateBasedStatement: { AggregateKeyType: 'IP', Limit: 500, EvaluationWindowSec: 300 } },
          Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
          VisibilityConfig: Match.objectLike({
            CloudWatchMetricsEnabled: true,
            SampledRequestsEnabled: true,
          }),
        }),
      ],
    });
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LbWebAcl'), 'Arn'] },
    });
    expect(lb.webAcl).toBeDefined();
    Template.fromStack(build().stack).resourceCountIs('AWS::WAFv2::WebACL', 0);
  });

  it('refuses plain HTTP when it is not allowed, and says how to fix it', () => {
    expect(() => build({ allowPlainHttp: false })).toThrow(
      /certificateArn is required while allowPlainHttp is false .* Set certificateArn and domainName, or hostedZone \(a certificate is then made\), or set allowPlainHttp to true/,
    );
  });

  describe('with a hosted zone', () => {
    const hostedZone = { id: 'Z0123456789ABCDEFGHIJ', name: 'example.org', recordName: 'rtc' };

    it('makes a DNS-validated certificate for the record, serves HTTPS with it and points an alias at itself', () => {
      const { stack, lb } = build({ hostedZone, allowPlainHttp: false });
      const template = Template.fromStack(stack);
      template.hasResourceProperties('AWS::CertificateManager::Certificate', {
        DomainName: 'rtc.example.org',
        ValidationMethod: 'DNS',
        DomainValidationOptions: [{ DomainName: 'rtc.example.org', HostedZoneId: 'Z0123456789ABCDEFGHIJ' }],
      });
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 443,
        Certificates: [{ CertificateArn: { Ref: Match.stringLikeRegexp('^LbCertificate') } }],
      });
      template.hasResourceProperties('AWS::Route53::RecordSet', {
        HostedZoneId: 'Z0123456789ABCDEFGHIJ',
        Name: 'rtc.example.org.',
        Type: 'A',
        AliasTarget: Match.objectLike({
          DNSName: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
        }),
      });
      expect(lb.restUrl).toBe('https://rtc.example.org');
      expect(lb.aliasRecord).toBeDefined();
    });

    it('uses the certificate it is given instead, and names the zone apex without a record name', () => {
      const { stack, lb } = build({
        hostedZone: { id: hostedZone.id, name: 'example.org' },
        certificateArn: CERTIFICATE,
      });
      const template = Template.fromStack(stack);
      template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
      template.hasResourceProperties('AWS::Route53::RecordSet', { Name: 'example.org.' });
      expect(lb.signalingUrl).toBe('wss://example.org');
    });

    it.each<[string, Partial<SignalingLoadBalancerProps>, RegExp]>([
      [
        'a domain name beside it',
        { hostedZone, domainName: 'rtc.example.org' },
        /domainName must be left out with hostedZone/,
      ],
      [
        'a malformed zone id',
        { hostedZone: { ...hostedZone, id: 'zone-1' } },
        /hostedZone.id must be a Route 53 hosted zone id/,
      ],
      [
        'an uppercase zone name',
        { hostedZone: { ...hostedZone, name: 'Example.org' } },
        /hostedZone.name must be a lowercase DNS name/,
      ],
      [
        'a record name with a dot at its end',
        { hostedZone: { ...hostedZone, recordName: 'rtc.' } },
        /hostedZone.recordName must be lowercase DNS labels/,
      ],
    ])('refuses %s', (_, props, message) => {
      expect(() => build(props)).toThrow(message);
    });
  });

  it('refuses to be deleted when asked to', () => {
    const attributes = (deletionProtection?: boolean) =>
      JSON.stringify(
        Template.fromStack(build({ deletionProtection }).stack).findResources(
          'AWS::ElasticLoadBalancingV2::LoadBalancer',
        ),
      );
    expect(attributes()).not.toContain('"deletion_protection.enabled","Value":"true"');
    expect(attributes(true)).toContain('{"Key":"deletion_protection.enabled","Value":"true"}');
  });

  it('takes the target port, deregistration delay and health check timings from props', () => {
    const { stack } = build({
      targetPort: 8443,
      deregistrationDelay: Duration.seconds(90),
      idleTimeoutSeconds: 120,
      healthCheck: { intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 3, unhealthyThreshold: 4 },
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8443,
      HealthCheckIntervalSeconds: 10,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 3,
      UnhealthyThresholdCount: 4,
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '90' }]),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'idle_timeout.timeout_seconds', Value: '120' }]),
    });
  });

  it('exposes target health, request and 5xx metrics', () => {
    const { lb } = build();
    expect(lb.metricUnhealthyHosts()).toMatchObject({
      metricName: 'UnHealthyHostCount',
      statistic: 'Maximum',
    });
    expect(lb.metricHealthyHosts()).toMatchObject({ metricName: 'HealthyHostCount', statistic: 'Minimum' });
    expect(lb.metricRequests()).toMatchObject({ metricName: 'RequestCount' });
    expect(lb.metricTarget5xx()).toMatchObject({ metricName: 'HTTPCode_Target_5XX_Count' });
    expect(lb.metricLoadBalancer5xx()).toMatchObject({ metricName: 'HTTPCode_ELB_5XX_Count' });
  });

  it.each<[string, Partial<SignalingLoadBalancerProps>, RegExp]>([
    [
      'a malformed certificate ARN',
      { certificateArn: 'arn:aws:iam::1:cert', domainName: 'a.example.com' },
      /certificateArn must be an ACM certificate ARN/,
    ],
    [
      'a certificate without a domain',
      { certificateArn: CERTIFICATE },
      /domainName is required with a certificate/,
    ],
    ['a malformed domain', { domainName: 'Not A Domain' }, /domainName must be a lowercase DNS name/],
    [
      'an idle timeout over 4000 s',
      { idleTimeoutSeconds: 4001 },
      /idleTimeoutSeconds must be an integer from 1 to 4000/,
    ],
    [
      'a health check interval under 5 s',
      { healthCheck: { intervalSeconds: 1 } },
      /healthCheck.intervalSeconds must be an integer from 5 to 300/,
    ],
    [
      'a health check timeout under 2 s',
      { healthCheck: { timeoutSeconds: 1 } },
      /healthCheck.timeoutSeconds must be an integer from 2 to 120/,
    ],
    [
      'a healthy threshold of 1',
      { healthCheck: { healthyThreshold: 1 } },
      /healthCheck.healthyThreshold must be an integer from 2 to 10/,
    ],
    [
      'an unhealthy threshold of 11',
      { healthCheck: { unhealthyThreshold: 11 } },
      /healthCheck.unhealthyThreshold must be an integer from 2 to 10/,
    ],
    [
      'a timeout not below the interval',
      { healthCheck: { intervalSeconds: 5, timeoutSeconds: 5 } },
      /healthCheck.timeoutSeconds must be less than healthCheck.intervalSeconds \(5 >= 5\)/,
    ],
    ['a target port out of range', { targetPort: 70000 }, /targetPort must be an integer from 1 to 65535/],
    [
      'a deregistration delay over an hour',
      { deregistrationDelay: Duration.seconds(3601) },
      /deregistrationDelay must be whole seconds from 0 to 3600 \(got 1 hour 1 second\)/,
    ],
    [
      'a deregistration delay in fractions of a second',
      { deregistrationDelay: Duration.millis(1500) },
      /deregistrationDelay must be whole seconds from 0 to 3600 \(got 1 second 500 millis\)/,
    ],
    [
      'access logs in an environment-agnostic stack',
      { accessLogs: true },
      /accessLogs needs a stack with an explicit region/,
    ],
  ])('rejects %s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});
