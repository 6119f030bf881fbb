import * as fs from 'node:fs';
import * as path from 'node:path';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { CFN_GUARD_PLUGIN, CONTROL_TOWER_RULES } from '../../../constructs/shared/controls';
import { addRtcHa, RtcHaApp } from '../../../lib/app';
import type { RtcHaConfig } from '../../../lib/config';
import { testApp } from './app';

/** A finding in the validation report: the rule, and the resources it names. */
export interface Finding {
  readonly ruleName: string;
  readonly severity: string;
  readonly description: string;
  readonly reason?: string;
  readonly violatingConstructs: { readonly cloudFormationResource?: { readonly logicalId: string } }[];
}

export interface PluginReport {
  readonly pluginName: string;
  readonly violations: Finding[];
  readonly suppressedViolations?: Finding[];
}

export interface Synthesized extends RtcHaApp {
  readonly app: App;
  readonly assembly: cxapi.CloudAssembly;
  readonly template: Template;
  /** Findings of the CloudFormation validation plugin that were not acknowledged. */
  readonly cfnFindings: Finding[];
  /** What AWS Control Tower's proactive controls (cfn-guard) found: left, and acknowledged with a reason. */
  readonly controls: { readonly violations: Finding[]; readonly acknowledged: Finding[] };
}

/**
 * Synthesizes the whole app once, as `cdk synth` does: cdk.json's feature flags (which make the
 * CloudFormation validation plugin's errors fail synth), the plugin itself, and the cdk-nag pack
 * (whose violations fail synth too); and, as a governed account's deployment would meet them, AWS
 * Control Tower's proactive controls (the cfn-guard rules of @cdklabs/cdk-validator-cfnguard), whose
 * unacknowledged findings fail synth as well.
 */
export function synthesize(config: RtcHaConfig): Synthesized {
  const app = testApp({ validation: true });
  const built = addRtcHa(app, config);
  Validations.of(app).addPlugins(new CfnGuardValidator());
  const assembly = app.synth();
  const report = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'));
  const plugin = (name: string): PluginReport | undefined =>
    report.pluginReports.find((r: PluginReport) => r.pluginName === name);
  const guard = plugin(CFN_GUARD_PLUGIN);
  return {
    ...built,
    app,
    assembly,
    template: Template.fromJSON(assembly.getStackByName(built.stack.stackName).template),
    cfnFindings: plugin('CloudFormation Validate')?.violations ?? [],
    controls: { violations: guard?.violations ?? [], acknowledged: guard?.suppressedViolations ?? [] },
  };
}

/**
 * The acknowledged Control Tower findings by control id, each with the logical ids it names; and
 * every reason starts with its control's id, as `acknowledgeControl` writes it.
 */
export function acknowledgedControls(s: Synthesized): Record<string, string[]> {
  const controlOf = Object.fromEntries(
    Object.entries(CONTROL_TOWER_RULES).map(([control, rule]) => [rule, control]),
  );
  const found: Record<string, string[]> = {};
  for (const finding of s.controls.acknowledged) {
    const control = controlOf[finding.ruleName] ?? finding.ruleName;
    expect(finding.reason).toMatch(new RegExp(`^${control.replace(/\./g, '\\.')}: .{40,}`));
    const ids = finding.violatingConstructs.map((c) => c.cloudFormationResource?.logicalId ?? '?');
    found[control] = [...(found[control] ?? []), ...ids].sort();
  }
  return found;
}
