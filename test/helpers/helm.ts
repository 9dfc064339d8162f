/**
 * The real helm (built by `npm run setup` into .tools/bin) against helm/gatehouse, and the rendered manifests as
 * plain objects. Nothing here talks to a cluster: `helm template` and `helm lint` are client-side.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const HELM = path.join(ROOT, ".tools/bin/helm");
export const CHART = path.join(ROOT, "helm/gatehouse");
export const CLI = path.join(ROOT, "gateway/cli/main.ts");
export const VALUES_FILES = ["minimal", "production", "external-redis"] as const;
export type ValuesName = (typeof VALUES_FILES)[number];
export const valuesFile = (name: ValuesName): string => path.join(CHART, "ci", `${name}-values.yaml`);

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): Run {
  if (!existsSync(HELM)) throw new Error(`${HELM} is missing: run \`npm run setup\` (it builds the pinned helm with Go)`);
  const result = spawnSync(HELM, args, { encoding: "utf8", timeout: 60_000, env: { ...process.env, HELM_CACHE_HOME: path.join(tmpdir(), "gatehouse-helm-cache"), HELM_CONFIG_HOME: path.join(tmpdir(), "gatehouse-helm-config"), HELM_DATA_HOME: path.join(tmpdir(), "gatehouse-helm-data") } });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A Kubernetes object as helm rendered it: a loosely typed tree (the tests check its shape). */
export type K8s = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [key: string]: any };

export const RELEASE = "gh";
export const NAMESPACE = "agents";

/** `helm template` with a values file (and --set overrides); throws with helm's stderr when it fails. */
export function render(values: ValuesName | undefined, set: string[] = []): K8s[] {
  const args = ["template", RELEASE, CHART, "--namespace", NAMESPACE];
  if (values !== undefined) args.push("-f", valuesFile(values));
  for (const s of set) args.push("--set", s);
  const result = helm(args);
  if (result.status !== 0) throw new Error(`helm ${args.join(" ")} exited ${result.status}:\n${result.stderr}`);
  return parseManifests(result.stdout);
}

/** `helm template` expected to fail: returns helm's error text. */
export function renderError(set: string[]): string {
  const result = helm(["template", RELEASE, CHART, "--namespace", NAMESPACE, ...set.flatMap((s) => ["--set", s])]);
  if (result.status === 0) throw new Error(`helm template with ${set.join(" ")} succeeded; expected it to fail`);
  return result.stderr;
}

export function parseManifests(text: string): K8s[] {
  const objects: K8s[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
    const value = doc.toJS() as K8s | null;
    if (value === null) continue;
    if (typeof value.kind !== "string" || typeof value.metadata?.name !== "string") throw new Error(`not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`);
    objects.push(value);
  }
  return objects;
}

export function ofKind(objects: K8s[], kind: string): K8s[] {
  return objects.filter((o) => o.kind === kind);
}

export function one(objects: K8s[], kind: string, name: string): K8s {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length} (have: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")})`);
  return found[0]!;
}

/** The gateway's objects are named <release>-gatehouse; backend servers <release>-<name>. */
export const GATEWAY = `${RELEASE}-gatehouse`;

/** The gatehouse.yaml the chart's ConfigMap carries, as text and parsed. */
export function gatewayConfig(objects: K8s[]): { text: string; config: Record<string, unknown> } {
  const text = one(objects, "ConfigMap", GATEWAY).data?.["gatehouse.yaml"];
  if (typeof text !== "string") throw new Error("the gateway ConfigMap has no gatehouse.yaml");
  return { text, config: parseYaml(text) as Record<string, unknown> };
}

/** Writes text to a fresh temp file and returns its path. */
export function tempFile(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "gatehouse-helm-")), name);
  writeFileSync(file, text);
  return file;
}

/** `gatehouse config check FILE` as a real process (the way an operator would run it). */
export function configCheck(file: string, env: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(process.execPath, [CLI, "config", "check", file], { encoding: "utf8", timeout: 30_000, env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Does a label selector's matchLabels select an object with these labels? */
export function selects(matchLabels: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(matchLabels).every(([key, value]) => labels?.[key] === value);
}
