import * as fs from 'node:fs';
import * as path from 'node:path';
import { Node } from 'constructs';
import { ValidationProblems } from '../../constructs/shared/problems';
import { RtcHaConfig } from './schema';
import { isObject, validateConfig } from './validate';

/** Context key of configuration written inline, e.g. in cdk.json's `context`. */
export const CONFIG_CONTEXT_KEY = 'rtc-ha';

/** Context key naming a JSON configuration file: `cdk synth -c config=examples/production.json`. */
export const CONFIG_FILE_CONTEXT_KEY = 'config';

/**
 * Reads the deployment configuration from the app's context: the defaults, overlaid by the object
 * under `rtc-ha` (cdk.json), overlaid by the JSON file named by `config` (relative to the working
 * directory). Objects merge field by field; arrays and values replace. Throws one error listing
 * every problem.
 */
export function loadConfig(node: Node, cwd = process.cwd()): RtcHaConfig {
  const layers: Record<string, unknown>[] = [];
  const problems: string[] = [];
  const inline = parseIfString(node.tryGetContext(CONFIG_CONTEXT_KEY));
  if (inline !== undefined) {
    if (isObject(inline)) layers.push(inline);
    else problems.push(`context "${CONFIG_CONTEXT_KEY}" must be a JSON object`);
  }
  const file = node.tryGetContext(CONFIG_FILE_CONTEXT_KEY);
  if (file !== undefined) {
    const fromFile = readConfigFile(String(file), cwd);
    if (typeof fromFile === 'string') problems.push(fromFile);
    else layers.push(fromFile);
  }
  if (problems.length > 0) throw new ValidationProblems('rtc-ha configuration', problems);
  return validateConfig(layers.reduce(mergeConfig, {}));
}

/** Merges `overlay` into `base`: objects field by field, anything else replaced. */
function mergeConfig(
  base: Record<string, unknown>,
  overlay: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const current = merged[key];
    merged[key] = isObject(current) && isObject(value) ? mergeConfig(current, value) : value;
  }
  return merged;
}

/** The file's JSON object, or a problem naming the file. */
function readConfigFile(file: string, cwd: string): Record<string, unknown> | string {
  const where = path.resolve(cwd, file);
  let text: string;
  try {
    text = fs.readFileSync(where, 'utf8');
  } catch (e) {
    return `${CONFIG_FILE_CONTEXT_KEY}: cannot read ${where} (${(e as NodeJS.ErrnoException).code ?? e})`;
  }
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : `${CONFIG_FILE_CONTEXT_KEY}: ${where} must hold a JSON object`;
  } catch (e) {
    return `${CONFIG_FILE_CONTEXT_KEY}: ${where} is not valid JSON (${(e as Error).message})`;
  }
}

/** `-c rtc-ha='{...}'` arrives as a string. */
function parseIfString(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
