/**
 * The Helm chart (helm/gatehouse) with the real helm: lint, then `helm template` with each values file under
 * helm/gatehouse/ci/, checked object by object, and the rendered gateway config run through `gatehouse config check`.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  CHART,
  GATEWAY,
  NAMESPACE,
  RELEASE,
  VALUES_FILES,
  configCheck,
  gatewayConfig,
  helm,
  ofKind,
  one,
  render,
  renderError,
  selects,
  tempFile,
  valuesFile,
  type K8s,
  type ValuesName,
} from "./helpers/helm.ts";

const workloadKinds = ["Deployment", "StatefulSet"];
const podLabels = (workload: K8s): Record<string, string> => workload.spec.template.metadata.labels;
const workloads = (objects: K8s[]) => objects.filter((o) => workloadKinds.includes(o.kind));
const gatewayDeployment = (objects: K8s[]) => one(objects, "Deployment", GATEWAY);
const gatewayContainer = (objects: K8s[]) => gatewayDeployment(objects).spec.template.spec.containers.find((c: K8s) => c.name === "gateway");
const values = (name: ValuesName) => parseYaml(readFileSync(valuesFile(name), "utf8")) as Record<string, any>;

/** Every way a Deployment or StatefulSet could fall short of the hardening the chart promises. */
function hardeningProblems(objects: K8s[]): string[] {
  const problems: string[] = [];
  for (const workload of workloads(objects)) {
    const where = `${workload.kind}/${workload.metadata.name}`;
    const pod = workload.spec.template.spec;
    const psc = pod.securityContext ?? {};
    if (psc.runAsNonRoot !== true) problems.push(`${where}: pod runAsNonRoot is not true`);
    if (psc.runAsUser === 0 || psc.runAsGroup === 0) problems.push(`${where}: pod runs as root`);
    if (psc.seccompProfile?.type !== "RuntimeDefault") problems.push(`${where}: pod seccompProfile is not RuntimeDefault`);
    if (pod.automountServiceAccountToken !== false) problems.push(`${where}: a service-account token is automounted`);
    if (pod.hostNetwork === true || pod.hostPID === true || pod.hostIPC === true) problems.push(`${where}: shares a host namespace`);
    for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
      const at = `${where} container ${container.name}`;
      const sc = container.securityContext ?? {};
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push(`${at}: capabilities do not drop ALL`);
      if ((sc.capabilities?.add ?? []).length > 0) problems.push(`${at}: adds capabilities`);
      if (sc.privileged === true) problems.push(`${at}: privileged`);
      if (sc.runAsNonRoot === false || sc.runAsUser === 0) problems.push(`${at}: may run as root`);
    }
  }
  return problems;
}

describe("helm", () => {
  it("is the pinned version setup.sh builds", () => {
    const pinned = readFileSync(new URL("../scripts/setup.sh", import.meta.url), "utf8").match(/^HELM_VERSION="([^"]+)"$/m)?.[1];
    expect(pinned).toMatch(/^3\.\d+\.\d+$/);
    const result = helm(["version", "--template", "{{.Version}}"]);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`v${pinned}`);
  });
});

describe("helm lint --strict", () => {
  it.each(VALUES_FILES)("passes with ci/%s-values.yaml", (name) => {
    const result = helm(["lint", "--strict", CHART, "-f", valuesFile(name)]);
    expect(result.stderr + result.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(result.status).toBe(0);
  });

  it("fails on values the gateway would refuse (a server name it cannot use)", () => {
    const result = helm(["lint", "--strict", CHART, "--set", "servers[0].name=Not_Valid", "--set", "servers[0].image=x"]);
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/servers\[0\]\.name/);
  });
});

describe.each(VALUES_FILES)("helm template with ci/%s-values.yaml", (name) => {
  const objects = render(name);

  it("renders only objects of the kinds the chart owns, each name once per kind", () => {
    const known = ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount", "StatefulSet"];
    expect(objects.map((o) => o.kind).filter((k) => !known.includes(k))).toEqual([]);
    const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("hardens every pod and container (non-root, read-only root, no capabilities, RuntimeDefault seccomp)", () => {
    expect(workloads(objects).length).toBeGreaterThan(0);
    expect(hardeningProblems(objects)).toEqual([]);
  });

  it("runs the gateway as uid/gid 65532 with `serve` on 0.0.0.0:8080 and the rolling-update strategy", () => {
    const deployment = gatewayDeployment(objects);
    expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 });
    expect(deployment.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const container = gatewayContainer(objects);
    expect(container.args).toEqual(["serve", "--config", "/etc/gatehouse/gatehouse.yaml", "--host", "0.0.0.0", "--port", "8080"]);
    expect(container.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(container.command).toBeUndefined(); // the image's ENTRYPOINT (node gateway/cli/main.ts) stays
  });

  it("probes /healthz (liveness) and /readyz (readiness) on the http port", () => {
    const container = gatewayContainer(objects);
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.ports.map((p: K8s) => p.name)).toContain("http");
  });

  it("gives the gateway the config file, an emptyDir dataDir and /tmp, consistent with the rendered config", () => {
    const { config } = gatewayConfig(objects);
    const pod = gatewayDeployment(objects).spec.template.spec;
    const mounts = Object.fromEntries(gatewayContainer(objects).volumeMounts.map((m: K8s) => [m.name, m]));
    const volumes = Object.fromEntries(pod.volumes.map((v: K8s) => [v.name, v]));
    // --config /etc/gatehouse/gatehouse.yaml is the ConfigMap's key, projected into the read-only config mount.
    expect(mounts.config).toMatchObject({ mountPath: "/etc/gatehouse", readOnly: true });
    expect(volumes.config.projected.sources[0].configMap).toEqual({ name: GATEWAY, items: [{ key: "gatehouse.yaml", path: "gatehouse.yaml" }] });
    // the root filesystem is read-only: the dataDir the config names is a writable emptyDir
    expect(config.dataDir).toBe("/var/lib/gatehouse");
    expect(mounts.data.mountPath).toBe(config.dataDir);
    expect(mounts.data.readOnly).not.toBe(true);
    expect(volumes.data.emptyDir).toBeDefined();
    expect(mounts.tmp.mountPath).toBe("/tmp");
    expect(volumes.tmp.emptyDir).toBeDefined();
    expect(config.listen).toEqual({ host: "0.0.0.0", port: 8080 });
  });

  it("projects a service-account token with the gateway's audience at /var/run/secrets/gatehouse/token", () => {
    const { config } = gatewayConfig(objects);
    const audience = (config.identity as { audience: string }).audience;
    expect(audience).toBe(values(name).identity?.audience ?? "gatehouse");
    const pod = gatewayDeployment(objects).spec.template.spec;
    const tokenVolumes = pod.volumes.filter((v: K8s) => v.projected?.sources?.some((s: K8s) => s.serviceAccountToken));
    expect(tokenVolumes).toHaveLength(1);
    const source = tokenVolumes[0].projected.sources.find((s: K8s) => s.serviceAccountToken).serviceAccountToken;
    expect(source).toEqual({ audience, expirationSeconds: 3600, path: "token" });
    const mount = gatewayContainer(objects).volumeMounts.find((m: K8s) => m.name === tokenVolumes[0].name);
    expect(`${mount.mountPath}/${source.path}`).toBe("/var/run/secrets/gatehouse/token");
    expect(mount.readOnly).toBe(true);
    expect(pod.serviceAccountName).toBe(one(objects, "ServiceAccount", GATEWAY).metadata.name);
  });

  it("accepts Kubernetes service-account tokens through a kubernetes issuer with the API server's keys", () => {
    const issuers = (gatewayConfig(objects).config.identity as { issuers: K8s[] }).issuers;
    const kubernetes = issuers.filter((i) => i.kind === "kubernetes");
    expect(kubernetes).toHaveLength(1);
    expect(kubernetes[0]!.agentId).toBe("{kubernetes.namespace}/{kubernetes.serviceAccount}");
    const pod = gatewayDeployment(objects).spec.template.spec;
    if (values(name).identity?.kubernetes?.jwksConfigMap) {
      // the JWKS file is projected from the named ConfigMap into the config volume
      expect(kubernetes[0]!.jwksFile).toBe("/etc/gatehouse/kubernetes-jwks/jwks.json");
      const source = pod.volumes.find((v: K8s) => v.name === "config").projected.sources.find((s: K8s) => s.configMap?.name === values(name).identity.kubernetes.jwksConfigMap);
      expect(source.configMap.items).toEqual([{ key: "jwks.json", path: "kubernetes-jwks/jwks.json" }]);
    } else {
      // fetched from the API server, trusting the cluster CA that the token volume projects
      expect(kubernetes[0]!.jwksUri).toBe("https://kubernetes.default.svc/openid/v1/jwks");
      const env = gatewayContainer(objects).env.find((e: K8s) => e.name === "NODE_EXTRA_CA_CERTS");
      expect(env.value).toBe("/var/run/secrets/gatehouse/kube-root-ca.crt");
      const token = pod.volumes.find((v: K8s) => v.name === "token").projected.sources;
      expect(token).toContainEqual({ configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "kube-root-ca.crt" }] } });
    }
  });

  it("renders a gatehouse.yaml that `gatehouse config check` accepts (exit 0)", () => {
    const { text } = gatewayConfig(objects);
    const file = tempFile("gatehouse.yaml", text);
    const result = configCheck(file);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const servers = (values(name).servers ?? []).length;
    expect(result.stdout).toBe(`${file}: ok (${servers} ${servers === 1 ? "server" : "servers"})\n`);
  });

  it("exposes the gateway through a ClusterIP Service, port 80 → http, selecting exactly the gateway pods", () => {
    const service = one(objects, "Service", GATEWAY);
    expect(service.spec.type).toBe("ClusterIP");
    expect(service.spec.ports).toEqual([{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }]);
    const selected = workloads(objects).filter((w) => selects(service.spec.selector, podLabels(w)));
    expect(selected.map((w) => w.metadata.name)).toEqual([GATEWAY]);
  });

  it("turns each declared server into a hardened Deployment, a Service and an http entry in the config", () => {
    const declared: K8s[] = values(name).servers ?? [];
    const configServers = (gatewayConfig(objects).config.servers ?? []) as K8s[];
    expect(configServers.map((s) => s.name)).toEqual(declared.map((s) => s.name));
    for (const server of declared) {
      const port = server.port ?? 8080;
      const deployment = one(objects, "Deployment", `${RELEASE}-${server.name}`);
      const service = one(objects, "Service", `${RELEASE}-${server.name}`);
      const container = deployment.spec.template.spec.containers[0];
      expect(container.image).toBe(server.image);
      expect(container.ports).toEqual([{ name: "mcp", containerPort: port, protocol: "TCP" }]);
      expect(container.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
      expect(deployment.spec.template.spec.volumes).toContainEqual({ name: "tmp", emptyDir: { sizeLimit: "64Mi" } });
      expect(workloads(objects).filter((w) => selects(service.spec.selector, podLabels(w))).map((w) => w.metadata.name)).toEqual([deployment.metadata.name]);
      expect(service.spec.ports).toEqual([{ name: "mcp", port, targetPort: "mcp", protocol: "TCP" }]);
      const entry = configServers.find((s) => s.name === server.name)!;
      expect(entry.transport).toBe("http");
      expect(entry.url).toBe(`http://${RELEASE}-${server.name}.${NAMESPACE}.svc:${port}${server.path ?? "/mcp"}`);
      for (const key of ["tools", "timeoutMs", "identity", "scope", "maxInstances", "idleTimeoutMs", "protocol"]) {
        if (server[key] !== undefined) expect(entry[key]).toEqual(server[key]);
      }
    }
  });

  it("wires the policy bundle from a ConfigMap, a URL or the image", () => {
    const policy = values(name).policy ?? {};
    const bundle = (gatewayConfig(objects).config.policy as { bundle: string }).bundle;
    const configSources = gatewayDeployment(objects).spec.template.spec.volumes.find((v: K8s) => v.name === "config").projected.sources;
    const bundleSource = configSources.find((s: K8s) => s.configMap?.items?.some((i: K8s) => i.key === "bundle.tar.gz"));
    if (policy.bundleConfigMap) {
      expect(bundleSource.configMap).toEqual({ name: policy.bundleConfigMap, items: [{ key: "bundle.tar.gz", path: "policy/bundle.tar.gz" }] });
      expect(bundle).toBe("/etc/gatehouse/policy/bundle.tar.gz"); // the config mount + the projected path
    } else {
      expect(bundleSource).toBeUndefined();
      expect(bundle).toBe(policy.bundleUrl ?? "/app/policies/dist/bundle.tar.gz");
    }
  });
});

describe("scaling and disruption", () => {
  it("production: an autoscaling/v2 HPA on CPU owns the replica count, and a policy/v1 PDB keeps one gateway up", () => {
    const objects = render("production");
    const hpa = one(objects, "HorizontalPodAutoscaler", GATEWAY);
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: GATEWAY });
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 12 });
    expect(hpa.spec.metrics).toEqual([{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 65 } } }]);
    expect(gatewayDeployment(objects).spec.replicas).toBeUndefined();
    const pdb = one(objects, "PodDisruptionBudget", GATEWAY);
    expect(pdb.apiVersion).toBe("policy/v1");
    expect(pdb.spec.minAvailable).toBe(1);
    expect(workloads(objects).filter((w) => selects(pdb.spec.selector.matchLabels, podLabels(w))).map((w) => w.metadata.name)).toEqual([GATEWAY]);
  });

  it("minimal: one replica, no HPA, no PDB", () => {
    const objects = render("minimal");
    expect(gatewayDeployment(objects).spec.replicas).toBe(1);
    expect(ofKind(objects, "HorizontalPodAutoscaler")).toEqual([]);
    expect(ofKind(objects, "PodDisruptionBudget")).toEqual([]);
  });

  it("a PDB needs more than one replica: two replicas without HPA get one, the toggle removes it", () => {
    expect(ofKind(render("minimal", ["replicaCount=2"]), "PodDisruptionBudget")).toHaveLength(1);
    expect(ofKind(render("minimal", ["replicaCount=2", "podDisruptionBudget.enabled=false"]), "PodDisruptionBudget")).toEqual([]);
  });
});

describe("network policies (production)", () => {
  const objects = render("production");
  const declared: K8s[] = values("production").servers;
  const policies = ofKind(objects, "NetworkPolicy");
  const gatewayPodLabels = podLabels(gatewayDeployment(objects));

  it("the production values declare two servers, exactly one with an egress grant", () => {
    expect(declared).toHaveLength(2);
    expect(declared.filter((s) => s.egress !== undefined)).toHaveLength(1);
  });

  it.each(declared.map((s) => [s.name, s] as const))("server %s: selects its pods; admits only gateway pods on its port", (serverName, server) => {
    const policy = one(policies, "NetworkPolicy", `${RELEASE}-${serverName}`);
    const deployment = one(objects, "Deployment", `${RELEASE}-${serverName}`);
    // the policy applies to this server's pods and to no other workload's
    expect(workloads(objects).filter((w) => selects(policy.spec.podSelector.matchLabels, podLabels(w))).map((w) => w.metadata.name)).toEqual([deployment.metadata.name]);
    expect(policy.spec.policyTypes).toEqual(expect.arrayContaining(["Ingress", "Egress"]));
    // one ingress rule, one peer: a same-namespace podSelector (no namespaceSelector, no ipBlock)
    expect(policy.spec.ingress).toHaveLength(1);
    const [rule] = policy.spec.ingress;
    expect(rule.from).toHaveLength(1);
    expect(Object.keys(rule.from[0])).toEqual(["podSelector"]);
    const peer = rule.from[0].podSelector.matchLabels;
    // those labels really are the gateway pod template's, and they select no other workload's pods
    expect(Object.keys(peer).length).toBeGreaterThan(0);
    expect(selects(peer, gatewayPodLabels)).toBe(true);
    expect(workloads(objects).filter((w) => selects(peer, podLabels(w))).map((w) => w.metadata.name)).toEqual([GATEWAY]);
    expect(rule.ports).toEqual([{ port: server.port ?? 8080, protocol: "TCP" }]);
  });

  it.each(declared.map((s) => [s.name, s] as const))("server %s: egress is exactly what servers[].egress grants (none: none)", (serverName, server) => {
    const policy = one(policies, "NetworkPolicy", `${RELEASE}-${serverName}`);
    expect(policy.spec.policyTypes).toContain("Egress"); // without it, egress would be unrestricted
    expect(policy.spec.egress ?? []).toEqual(server.egress ?? []);
  });

  it("the gateway accepts its http port from the configured peers, and may reach its servers, Redis and DNS", () => {
    const policy = one(policies, "NetworkPolicy", GATEWAY);
    expect(selects(policy.spec.podSelector.matchLabels, gatewayPodLabels)).toBe(true);
    expect(workloads(objects).filter((w) => selects(policy.spec.podSelector.matchLabels, podLabels(w))).map((w) => w.metadata.name)).toEqual([GATEWAY]);
    expect(policy.spec.ingress).toEqual([{ ports: [{ port: 8080, protocol: "TCP" }], from: values("production").networkPolicy.gateway.ingressFrom }]);
    const egress: K8s[] = policy.spec.egress;
    const reaches = (workload: K8s, port: number) =>
      egress.some((r) => r.ports?.some((p: K8s) => p.port === port) && r.to?.some((peer: K8s) => peer.podSelector && !peer.namespaceSelector && selects(peer.podSelector.matchLabels, podLabels(workload))));
    for (const server of declared) expect(reaches(one(objects, "Deployment", `${RELEASE}-${server.name}`), server.port ?? 8080)).toBe(true);
    expect(reaches(one(objects, "StatefulSet", `${GATEWAY}-redis`), 6379)).toBe(true);
    expect(egress).toContainEqual({
      to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
      ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }],
    });
    for (const extra of values("production").networkPolicy.gateway.extraEgress) expect(egress).toContainEqual(extra);
  });

  it("the bundled Redis admits only gateway pods and has no egress", () => {
    const policy = one(policies, "NetworkPolicy", `${GATEWAY}-redis`);
    expect(workloads(objects).filter((w) => selects(policy.spec.podSelector.matchLabels, podLabels(w))).map((w) => w.metadata.name)).toEqual([`${GATEWAY}-redis`]);
    expect(policy.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: expect.any(Object) } }], ports: [{ port: 6379, protocol: "TCP" }] }]);
    expect(workloads(objects).filter((w) => selects(policy.spec.ingress[0].from[0].podSelector.matchLabels, podLabels(w))).map((w) => w.metadata.name)).toEqual([GATEWAY]);
    expect(policy.spec.egress).toEqual([]);
    expect(policy.spec.policyTypes).toContain("Egress");
  });

  it("minimal values render no NetworkPolicy", () => {
    expect(ofKind(render("minimal"), "NetworkPolicy")).toEqual([]);
  });
});

describe("Redis", () => {
  it("production: a bundled StatefulSet with a volume claim, whose Service URL is the state store and the audit Redis sink", () => {
    const objects = render("production");
    const statefulSet = one(objects, "StatefulSet", `${GATEWAY}-redis`);
    expect(statefulSet.spec.template.spec.containers[0].image).toBe("redis:7.4-alpine");
    expect(statefulSet.spec.volumeClaimTemplates).toHaveLength(1);
    expect(statefulSet.spec.volumeClaimTemplates[0]).toMatchObject({ metadata: { name: "data" }, spec: { resources: { requests: { storage: "5Gi" } } } });
    expect(statefulSet.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: "data", mountPath: "/data" });
    expect(one(objects, "Service", statefulSet.spec.serviceName).spec.clusterIP).toBe("None");
    const service = one(objects, "Service", `${GATEWAY}-redis`);
    expect(selects(service.spec.selector, podLabels(statefulSet))).toBe(true);
    expect(service.spec.ports[0].port).toBe(6379);
    const audit = gatewayConfig(objects).config.audit as K8s;
    expect(audit.sinks.redis).toEqual({ url: `redis://${GATEWAY}-redis.${NAMESPACE}.svc:6379`, stream: "gatehouse:audit", maxLen: 1000000 });
  });

  it("external: no StatefulSet, the URL goes into the config, and the gateway may reach its port", () => {
    const objects = render("external-redis");
    const url = values("external-redis").redis.externalUrl;
    expect(ofKind(objects, "StatefulSet")).toEqual([]);
    expect(objects.filter((o) => o.metadata.name.includes("redis"))).toEqual([]);
    expect((gatewayConfig(objects).config.audit as K8s).sinks.redis.url).toBe(url);
    const egress: K8s[] = one(objects, "NetworkPolicy", GATEWAY).spec.egress;
    expect(egress).toContainEqual({ ports: [{ port: 6380, protocol: "TCP" }], to: values("external-redis").networkPolicy.gateway.externalRedisTo });
  });

  it("minimal: no Redis at all, and no Redis sink", () => {
    const objects = render("minimal");
    expect(objects.filter((o) => o.metadata.name.includes("redis"))).toEqual([]);
    expect((gatewayConfig(objects).config.audit as K8s).sinks).toEqual({ stdout: false });
  });

  it("with a password Secret: redis requires it, the gateway gets it as REDIS_PASSWORD, and the config needs it", () => {
    const objects = render("minimal", ["redis.enabled=true", "redis.auth.existingSecret=redis-auth"]);
    const fromSecret = { valueFrom: { secretKeyRef: { name: "redis-auth", key: "redis-password" } } };
    expect(gatewayContainer(objects).env).toContainEqual({ name: "REDIS_PASSWORD", ...fromSecret });
    const redis = one(objects, "StatefulSet", `${GATEWAY}-redis`).spec.template.spec.containers[0];
    expect(redis.env).toContainEqual({ name: "REDIS_PASSWORD", ...fromSecret });
    expect(redis.args.join(" ")).toContain("--requirepass $(REDIS_PASSWORD)");
    const { text, config } = gatewayConfig(objects);
    const url = `redis://:\${REDIS_PASSWORD}@${GATEWAY}-redis.${NAMESPACE}.svc:6379`;
    expect((config.audit as K8s).sinks.redis.url).toBe(url);
    expect(config.state).toEqual({ store: "redis", redis: { url, keyPrefix: "gatehouse:" } });
    const file = tempFile("gatehouse.yaml", text);
    const missing = configCheck(file, { REDIS_PASSWORD: undefined }); // spawn drops undefined variables
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/audit\.sinks\.redis\.url: environment variable REDIS_PASSWORD is not set/);
    expect(missing.stderr).toMatch(/state\.redis\.url: environment variable REDIS_PASSWORD is not set/);
    expect(configCheck(file, { REDIS_PASSWORD: "s3cret" }).status).toBe(0);
  });
});

describe("shared state: state, rateLimits and the Service's session affinity", () => {
  const bundledUrl = `redis://${GATEWAY}-redis.${NAMESPACE}.svc:6379`;

  it.each([
    ["minimal", { store: "memory" }],
    ["production", { store: "redis", redis: { url: bundledUrl, keyPrefix: "gatehouse:" } }],
    ["external-redis", { store: "redis", redis: { url: "rediss://redis.data.svc.cluster.local:6380", keyPrefix: "gh-agents:" } }],
  ] as const)("%s: state is %j, on the audit Redis sink's URL", (name, state) => {
    const { config } = gatewayConfig(render(name));
    expect(config.state).toEqual(state);
    expect((config.audit as K8s).sinks.redis?.url).toBe("redis" in state ? state.redis.url : undefined);
  });

  it.each([
    ["minimal", { onStoreError: "open" }],
    ["production", { perAgent: { perMinute: 600, burst: 100 }, perAgentTool: { perMinute: 120 }, onStoreError: "open" }],
    ["external-redis", { perAgent: { perMinute: 300 }, onStoreError: "closed" }],
  ] as const)("%s: rateLimits is %j (buckets only when set)", (name, rateLimits) => {
    expect(gatewayConfig(render(name)).config.rateLimits).toEqual(rateLimits);
    expect(rateLimits).toMatchObject(values(name).rateLimits ?? {});
  });

  // [values file, --set, state.store, the Service's sessionAffinity]
  it.each([
    ["minimal", [], "memory", "None"], // one replica: nothing to pin
    ["minimal", ["replicaCount=2"], "memory", "ClientIP"],
    ["minimal", ["autoscaling.enabled=true"], "memory", "ClientIP"],
    ["minimal", ["replicaCount=3", "redis.enabled=true"], "redis", "None"],
    ["minimal", ["replicaCount=3", "redis.externalUrl=redis://redis.data.svc:6379"], "redis", "None"],
    ["production", [], "redis", "None"],
    ["external-redis", [], "redis", "None"],
    ["production", ["service.sessionAffinity=ClientIP"], "redis", "ClientIP"], // an explicit value wins
    ["minimal", ["replicaCount=2", "service.sessionAffinity=None"], "memory", "None"],
  ] as const)("%s with --set %j: store %s, sessionAffinity %s", (name, set, store, affinity) => {
    const objects = render(name, [...set]);
    expect((gatewayConfig(objects).config.state as K8s).store).toBe(store);
    expect(one(objects, "Service", GATEWAY).spec.sessionAffinity).toBe(affinity);
  });

  it.each([
    [["redis.enabled=true", "state.keyPrefix=team-a:", "rateLimits.perAgentTool.perMinute=30", "rateLimits.perAgentTool.burst=5", "rateLimits.onStoreError=closed"]],
    [["redis.externalUrl=rediss://redis.data.svc:6380", "replicaCount=2", "rateLimits.perAgent.perMinute=0.5"]],
  ])("--set %j renders a config `gatehouse config check` accepts", (set) => {
    const result = configCheck(tempFile("gatehouse.yaml", gatewayConfig(render("minimal", set)).text));
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});

describe("the hardening check itself", () => {
  it.each([
    ["securityContext.readOnlyRootFilesystem=false", /Deployment\/gh-gatehouse container gateway: readOnlyRootFilesystem is not true/],
    ["securityContext.allowPrivilegeEscalation=true", /container gateway: allowPrivilegeEscalation is not false/],
    ["securityContext.capabilities.drop=null", /container gateway: capabilities do not drop ALL/],
    ["podSecurityContext.seccompProfile.type=Unconfined", /Deployment\/gh-gatehouse: pod seccompProfile is not RuntimeDefault/],
    ["podSecurityContext.runAsNonRoot=false", /Deployment\/gh-gatehouse: pod runAsNonRoot is not true/],
    ["redis.securityContext.readOnlyRootFilesystem=false", /StatefulSet\/gh-gatehouse-redis container redis: readOnlyRootFilesystem is not true/],
  ])("flags --set %s", (set, problem) => {
    const problems = hardeningProblems(render("production", [set]));
    expect(problems.some((p) => problem.test(p))).toBe(true);
  });
});

describe("values the gateway or Kubernetes would refuse fail at render time", () => {
  it.each([
    [["servers[0].name=Files", "servers[0].image=x"], /servers\[0\]\.name: required, \[a-z0-9-\]\+/],
    [["servers[0].name=files", "servers[0].image=x", "servers[1].name=files", "servers[1].image=y"], /servers\[1\]\.name: "files" is already used by servers\[0\]/],
    [["servers[0].name=files"], /servers\[0\]\.image: required/],
    [["servers[0].name=gatehouse", "servers[0].image=x"], /would collide with the chart's own objects/],
    [["identity.kubernetes.enabled=false"], /identity: no issuers/],
    [["policy.bundleUrl=https://x/b.tar.gz", "policy.bundleConfigMap=b"], /policy: set at most one of bundleConfigMap and bundleUrl/],
    [["autoscaling.enabled=true", "resources.requests=null"], /autoscaling: a CPU target needs resources.requests.cpu/],
    [["service.sessionAffinity=Sticky"], /service\.sessionAffinity: "" \(chosen by the chart\), None or ClientIP \(got "Sticky"\)/],
    [["redis.enabled=true", "state.keyPrefix=team/a"], /state\.keyPrefix: 1-64 characters from \[A-Za-z0-9:_.-\] \(got "team\/a"\)/],
    [["rateLimits.perAgent.burst=5"], /rateLimits\.perAgent: needs perMinute/],
    [["rateLimits.onStoreError=maybe"], /rateLimits\.onStoreError: open or closed \(got "maybe"\)/],
    [["rateLimits.perAgentTool.perMinute=0"], /rateLimits\.perAgentTool\.perMinute: a positive number \(got 0\)/],
  ])("--set %j", (set, message) => {
    expect(renderError(set)).toMatch(message);
  });
});

describe("rolling on config changes", () => {
  const checksum = (set: string[]) => gatewayDeployment(render("minimal", set)).spec.template.metadata.annotations["checksum/config"];

  it("the pod template's checksum/config changes with the config and only with it", () => {
    const base = checksum([]);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(["audit.durability=batched"])).not.toBe(base);
    expect(checksum(["podAnnotations.team=agents"])).toBe(base);
  });
});
