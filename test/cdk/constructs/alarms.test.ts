import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { ClusterAlarms } from '../../../constructs/alarms';
import { MasterFleet } from '../../../constructs/master-fleet';
import { FleetWatchdog } from '../../../constructs/fleet-watchdog';
import { SignalingLoadBalancer } from '../../../constructs/signaling-load-balancer';
import { Fixture, fixture, fleetDependencies } from '../support/app';

describe('ClusterAlarms', () => {
  let f: Fixture;
  let alarms: ClusterAlarms;
  let template: Template;
  beforeAll(() => {
    // GIVEN a load balancer, masters and a session store
    f = fixture();
    const deps = fleetDependencies(f);
    const lb = new SignalingLoadBalancer(f.stack, 'Lb', { vpc: f.vpc });
    const masters = new MasterFleet(f.stack, 'Masters', { vpc: f.vpc, ...deps, targetGroup: lb.targetGroup });
    // WHEN the alarms watch them all
    alarms = new ClusterAlarms(f.stack, 'Alarms', { email: 'oncall@example.com', dashboardName: 'rtc-ha' });
    alarms.monitorLoadBalancer(lb);
    alarms.monitorFleet('Masters', masters);
    alarms.monitorSessionStore(deps.sessionStore);
    template = Template.fromStack(f.stack);
  });

  it('publishes to an SSL-only topic with an email subscription', () => {
    // THEN
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ],
      },
    });
  });

  it('encrypts the topic with a rotated key of its own that CloudWatch alarms and Auto Scaling may use', () => {
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlarmsTopicKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: 'CloudWatchAlarms', Principal: { Service: 'cloudwatch.amazonaws.com' } }),
          // Auto Scaling's service-linked role publishes the groups' notifications: any principal, through SNS only.
          Match.objectLike({
            Sid: 'PublishersThroughSns',
            Principal: { AWS: '*' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: {
              StringEquals: Match.objectLike({ 'kms:CallerAccount': { Ref: 'AWS::AccountId' } }),
            },
          }),
        ]),
      },
    });
    expect(alarms.topicKey).toBeDefined();
  });

  it('alarms when a master fails /ready for 2 minutes: two 1-minute periods', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'UnHealthyHostCount',
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 2,
      TreatMissingData: 'notBreaching',
    });
  });

  it('alarms when fewer masters than the minimum are in service', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'GroupInServiceInstances',
      Threshold: 3,
      ComparisonOperator: 'LessThanThreshold',
    });
  });

  it('alarms on the busiest, fullest and most lagging session store node', () => {
    for (const [metricName, threshold] of [
      ['EngineCPUUtilization', 80],
      ['DatabaseMemoryUsagePercentage', 80],
      ['ReplicationLag', 1],
    ] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Threshold: threshold,
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'MAX([m1, m2])' }),
          Match.objectLike({
            MetricStat: Match.objectLike({
              Metric: {
                Namespace: 'AWS/ElastiCache',
                MetricName: metricName,
                Dimensions: [{ Name: 'CacheClusterId', Value: 'test-sessions-001' }],
              },
            }),
          }),
        ]),
      });
    }
  });

  it('notifies the topic when any alarm fires and when it clears', () => {
    const all = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.AlarmActions !== undefined,
    );
    expect(all).toHaveLength(alarms.alarms.length);
    expect(alarms.alarms).toHaveLength(5);
    for (const alarm of all) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^AlarmsTopic/) }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: expect.stringMatching(/^AlarmsTopic/) }]);
    }
  });

  it('draws a dashboard of the cluster', () => {
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'rtc-ha' });
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const title of [
      'Unhealthy masters (/ready)',
      'Requests',
      'Masters in service',
      'Masters CPU (%)',
      'Session store replication lag (s)',
    ]) {
      expect(body).toContain(title);
    }
  });

  it('lets other constructs add alarms wired to the topic, in their own scope', () => {
    const g = fixture();
    const extra = new ClusterAlarms(g.stack, 'Alarms');
    const owner = new Construct(g.stack, 'Owner');
    const alarm = extra.addAlarm(
      'ErrorsAlarm',
      {
        metric: new cloudwatch.Metric({ namespace: 'rtc-ha', metricName: 'Errors' }),
        threshold: 1,
        evaluationPeriods: 1,
      },
      owner,
    );
    expect(extra.alarms).toEqual([alarm]);
    expect(alarm.node.path).toBe('Test/Owner/ErrorsAlarm');
    const template = Template.fromStack(g.stack);
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    const topic = [{ Ref: Match.stringLikeRegexp('^AlarmsTopic') }];
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmActions: topic, OKActions: topic });
  });

  it('rejects an email address that is not one', () => {
    expect(() => new ClusterAlarms(fixture().stack, 'Alarms', { email: 'oncall' })).toThrow(
      /email must be an email address \(got "oncall"\)/,
    );
  });
});

describe('ClusterAlarms.monitorWatchdog', () => {
  it("draws the watchdog's dead man's switch, which notifies the topic on ALARM and OK", () => {
    // GIVEN masters behind a load balancer, watched by the watchdog that notifies the alarm topic
    const f = fixture();
    const deps = fleetDependencies(f);
    const lb = new SignalingLoadBalancer(f.stack, 'Lb', { vpc: f.vpc });
    const masters = new MasterFleet(f.stack, 'Masters', { vpc: f.vpc, ...deps, targetGroup: lb.targetGroup });
    const alarms = new ClusterAlarms(f.stack, 'Alarms');
    const watchdog = new FleetWatchdog(f.stack, 'Watchdog', {
      vpc: f.vpc,
      sessionStore: deps.sessionStore,
      masters: { fleet: masters },
      alarms,
    });

    // WHEN the dashboard shows it
    alarms.monitorWatchdog(watchdog);

    // THEN
    const template = Template.fromStack(f.stack);
    const topic = [{ Ref: Match.stringLikeRegexp('^AlarmsTopic') }];
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Invocations',
      Period: 60,
      EvaluationPeriods: 3,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: topic,
      OKActions: topic,
    });
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const title of [
      'Watchdog runs (dead man)',
      'Watchdog holds',
      'Watchdog flags, suspects, skipped runs',
    ]) {
      expect(body).toContain(title);
    }
    expect(body).toContain(f.stack.resolve(watchdog.notRunningAlarm.alarmArn)['Fn::GetAtt'][0]);
  });
});
