/**
 * The pieces behind `gatehouse policy ...`, as plain functions; the CLI folder parses flags and prints.
 */
import { readFile } from "node:fs/promises";
import { loadBundle } from "./bundle.ts";
import { PolicyEngine, preparePolicy } from "./engine.ts";
import type { PolicyMode, PolicyOutcome, PolicyVerifyConfig } from "./types.ts";

export interface EvalCommandOptions {
  /** A JSON file holding the input document; "-" reads stdin. */
  inputFile: string;
  /** A bundle path or http(s) URL. */
  bundle: string;
  /** Also evaluate this bundle as the shadow. */
  shadow?: string;
  verify?: PolicyVerifyConfig;
  /** Default "enforce". */
  mode?: PolicyMode;
  /** Default: no budget (the CLI reports time; it does not enforce it). */
  timeBudgetMs?: number;
  entrypoint?: string;
}

/**
 * Evaluates one input against a bundle, exactly as the gateway would (fail closed, shape checks, dry-run).
 * Throws PolicyBundleError when a bundle cannot be loaded, and an Error when the input is not JSON.
 */
export async function evalCommand(options: EvalCommandOptions): Promise<PolicyOutcome> {
  const input = await readInput(options.inputFile);
  const prepareOptions = { entrypoint: options.entrypoint, warmupInputs: [input] };
  const budget = options.timeBudgetMs ?? Number.POSITIVE_INFINITY;
  let shadow: PolicyEngine | undefined;
  if (options.shadow !== undefined) {
    shadow = new PolicyEngine({ timeBudgetMs: budget });
    shadow.swap(await preparePolicy(await loadBundle(options.shadow, { verify: options.verify }), prepareOptions));
  }
  const engine = new PolicyEngine({ mode: options.mode ?? "enforce", timeBudgetMs: budget, shadow });
  engine.swap(await preparePolicy(await loadBundle(options.bundle, { verify: options.verify }), prepareOptions));
  return engine.evaluate(input);
}

async function readInput(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === "-" ? await readStdin() : await readFile(file, "utf8");
  } catch (error) {
    throw new Error(`input ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`input ${file}: not JSON: ${(error as Error).message}`, { cause: error });
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
