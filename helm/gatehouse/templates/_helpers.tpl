{{/*
Names, labels and the rendered gateway config. Under `helm lint --strict` a missing map key is an error, so
optional keys of list items (servers[]) are read with `dig`/`hasKey`, never as `.key`.
*/}}

{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gatehouse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gatehouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ include "gatehouse.chart" . }}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gatehouse
{{- end }}

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The gateway's pods: backend servers' NetworkPolicies admit exactly these labels. */}}
{{- define "gatehouse.gateway.selectorLabels" -}}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "gatehouse.gateway.labels" -}}
{{ include "gatehouse.labels" . }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gatehouse.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* A backend server's object names: <release>-<name>, also its Service's DNS name. Call with (dict "root" $ "server" $s). */}}
{{- define "gatehouse.server.fullname" -}}
{{- printf "%s-%s" .root.Release.Name .server.name }}
{{- end }}

{{- define "gatehouse.server.selectorLabels" -}}
{{ include "gatehouse.selectorLabels" .root }}
app.kubernetes.io/component: mcp-server
gatehouse/server: {{ .server.name }}
{{- end }}

{{- define "gatehouse.server.labels" -}}
{{ include "gatehouse.labels" .root }}
app.kubernetes.io/component: mcp-server
gatehouse/server: {{ .server.name }}
{{- end }}

{{- define "gatehouse.server.port" -}}
{{- dig "port" .root.Values.serverDefaults.port .server | int }}
{{- end }}

{{- define "gatehouse.server.url" -}}
{{- printf "http://%s.%s.svc:%s%s" (include "gatehouse.server.fullname" .) .root.Release.Namespace (include "gatehouse.server.port" .) (dig "path" .root.Values.serverDefaults.path .server) }}
{{- end }}

{{- define "gatehouse.redis.fullname" -}}
{{- printf "%s-redis" (include "gatehouse.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gatehouse.redis.headlessName" -}}
{{- printf "%s-redis-headless" (include "gatehouse.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gatehouse.redis.selectorLabels" -}}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "gatehouse.redis.labels" -}}
{{ include "gatehouse.labels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{/* The Redis URL the gateway uses, or "" when there is no Redis (bundled wins over external). */}}
{{- define "gatehouse.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- $auth := ternary ":${REDIS_PASSWORD}@" "" (ne .Values.redis.auth.existingSecret "") }}
{{- printf "redis://%s%s.%s.svc:6379" $auth (include "gatehouse.redis.fullname" .) .Release.Namespace }}
{{- else if .Values.redis.externalUrl }}
{{- .Values.redis.externalUrl }}
{{- end }}
{{- end }}

{{/* Where the replicas keep shared state (the config's state.store): "redis" whenever the chart has a Redis URL
(bundled or external, the same URL as the audit Redis sink), else "memory". */}}
{{- define "gatehouse.stateStore" -}}
{{- ternary "redis" "memory" (ne (include "gatehouse.redisUrl" .) "") }}
{{- end }}

{{/* The gateway Service's sessionAffinity: service.sessionAffinity when set; otherwise ClientIP only while sessions
live in one replica's memory and several replicas run (replicaCount > 1 or autoscaling), else None. */}}
{{- define "gatehouse.sessionAffinity" -}}
{{- if .Values.service.sessionAffinity }}
{{- .Values.service.sessionAffinity }}
{{- else if and (eq (include "gatehouse.stateStore" .) "memory") (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- "ClientIP" }}
{{- else }}
{{- "None" }}
{{- end }}
{{- end }}

{{/* How the kubernetes issuer gets the API server's keys: "configMap", "uri" or "" (issuer off). */}}
{{- define "gatehouse.kubernetesJwks" -}}
{{- $k := .Values.identity.kubernetes }}
{{- if $k.enabled }}
{{- if $k.jwksConfigMap }}configMap{{ else if $k.jwksUri }}uri{{ else }}{{ fail "identity.kubernetes: set jwksConfigMap or jwksUri (or enabled: false)" }}{{ end }}
{{- end }}
{{- end }}

{{/* Where the gateway finds its files. The config ConfigMap, the policy bundle and the Kubernetes JWKS share one
projected volume at /etc/gatehouse (no mount nested inside a read-only ConfigMap mount). */}}
{{- define "gatehouse.configDir" -}}/etc/gatehouse{{- end }}
{{- define "gatehouse.configFile" -}}/etc/gatehouse/gatehouse.yaml{{- end }}
{{- define "gatehouse.policyBundleFile" -}}/etc/gatehouse/policy/bundle.tar.gz{{- end }}
{{- define "gatehouse.kubernetesJwksFile" -}}/etc/gatehouse/kubernetes-jwks/jwks.json{{- end }}
{{- define "gatehouse.tokenDir" -}}/var/run/secrets/gatehouse{{- end }}

{{/* Refuses values the gateway (or Kubernetes) would refuse later, with a message naming the value. */}}
{{- define "gatehouse.validate" -}}
{{- $root := . }}
{{- $seen := dict }}
{{- $reserved := list (include "gatehouse.fullname" .) (include "gatehouse.redis.fullname" .) (include "gatehouse.redis.headlessName" .) }}
{{- range $i, $s := .Values.servers }}
{{- $name := dig "name" "" $s }}
{{- if not (regexMatch "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$" (toString $name)) }}
{{- fail (printf "servers[%d].name: required, [a-z0-9-]+ starting and ending with a letter or digit (got %q)" $i (toString $name)) }}
{{- end }}
{{- if hasKey $seen $name }}
{{- fail (printf "servers[%d].name: %q is already used by servers[%v]" $i $name (get $seen $name)) }}
{{- end }}
{{- $_ := set $seen $name $i }}
{{- $full := include "gatehouse.server.fullname" (dict "root" $root "server" $s) }}
{{- if gt (len $full) 63 }}
{{- fail (printf "servers[%d].name: %q is longer than 63 characters, the limit of a Service name" $i $full) }}
{{- end }}
{{- if has $full $reserved }}
{{- fail (printf "servers[%d].name: %q would collide with the chart's own objects" $i $full) }}
{{- end }}
{{- if not (dig "image" "" $s) }}
{{- fail (printf "servers[%d].image: required" $i) }}
{{- end }}
{{- end }}
{{- if and .Values.policy.bundleConfigMap .Values.policy.bundleUrl }}
{{- fail "policy: set at most one of bundleConfigMap and bundleUrl" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (dig "requests" "cpu" "" .Values.resources)) }}
{{- fail "autoscaling: a CPU target needs resources.requests.cpu" }}
{{- end }}
{{- if not (has (toString .Values.service.sessionAffinity) (list "" "None" "ClientIP")) }}
{{- fail (printf "service.sessionAffinity: \"\" (chosen by the chart), None or ClientIP (got %q)" (toString .Values.service.sessionAffinity)) }}
{{- end }}
{{- if not (regexMatch "^[A-Za-z0-9:_.-]{1,64}$" (toString .Values.state.keyPrefix)) }}
{{- fail (printf "state.keyPrefix: 1-64 characters from [A-Za-z0-9:_.-] (got %q)" (toString .Values.state.keyPrefix)) }}
{{- end }}
{{- range $bucket := list "perAgent" "perAgentTool" }}
{{- $b := get $root.Values.rateLimits $bucket }}
{{- if and $b (not (hasKey $b "perMinute")) }}
{{- fail (printf "rateLimits.%s: needs perMinute (and optionally burst), or {} for no limit" $bucket) }}
{{- end }}
{{- if and $b (not (gt (float64 (get $b "perMinute")) 0.0)) }}
{{- fail (printf "rateLimits.%s.perMinute: a positive number (got %v)" $bucket (get $b "perMinute")) }}
{{- end }}
{{- end }}
{{- if not (has (toString .Values.rateLimits.onStoreError) (list "open" "closed")) }}
{{- fail (printf "rateLimits.onStoreError: open or closed (got %q)" (toString .Values.rateLimits.onStoreError)) }}
{{- end }}
{{- end }}

{{/* The gateway config file (gatehouse.yaml). Only keys gateway/config/schema.ts knows: it refuses the rest. */}}
{{- define "gatehouse.config" -}}
{{- $v := .Values }}
{{- $cfg := dict "listen" (dict "host" "0.0.0.0" "port" (int $v.containerPort)) "naming" $v.config.naming "dataDir" $v.dataDir.path }}
{{- if $v.config.http }}
{{- $_ := set $cfg "http" $v.config.http }}
{{- end }}
{{- /* identity */}}
{{- $issuers := list }}
{{- $k := $v.identity.kubernetes }}
{{- $jwks := include "gatehouse.kubernetesJwks" . }}
{{- if $jwks }}
{{- $issuer := dict "name" $k.name "kind" "kubernetes" "issuer" $k.issuer "agentId" $k.agentId "algorithms" $k.algorithms }}
{{- if eq $jwks "configMap" }}
{{- $_ := set $issuer "jwksFile" (include "gatehouse.kubernetesJwksFile" .) }}
{{- else }}
{{- $_ := set $issuer "jwksUri" $k.jwksUri }}
{{- end }}
{{- $issuers = append $issuers $issuer }}
{{- end }}
{{- $issuers = concat $issuers $v.identity.issuers }}
{{- if not $issuers }}
{{- fail "identity: no issuers: enable identity.kubernetes or list identity.issuers (the gateway refuses to run without identity)" }}
{{- end }}
{{- $_ := set $cfg "identity" (dict "audience" $v.identity.audience "requiredScopes" $v.identity.requiredScopes "clockSkewSeconds" (int $v.identity.clockSkewSeconds) "issuers" $issuers) }}
{{- /* policy */}}
{{- if $v.policy.enabled }}
{{- $bundle := $v.policy.imageBundlePath }}
{{- if $v.policy.bundleUrl }}
{{- $bundle = $v.policy.bundleUrl }}
{{- else if $v.policy.bundleConfigMap }}
{{- $bundle = include "gatehouse.policyBundleFile" . }}
{{- end }}
{{- $_ := set $cfg "policy" (dict "bundle" $bundle "mode" $v.policy.mode "denyAs" $v.policy.denyAs) }}
{{- end }}
{{- /* audit */}}
{{- $sinks := dict "stdout" $v.audit.stdout }}
{{- $redisUrl := include "gatehouse.redisUrl" . }}
{{- if $redisUrl }}
{{- $_ := set $sinks "redis" (dict "url" $redisUrl "stream" $v.audit.redisSink.stream "maxLen" (int64 $v.audit.redisSink.maxLen)) }}
{{- end }}
{{- $_ := set $cfg "audit" (dict "enabled" $v.audit.enabled "durability" $v.audit.durability "arguments" $v.audit.arguments "sinks" $sinks) }}
{{- /* state: with a Redis URL every replica serves every session (no sticky sessions needed) */}}
{{- if eq (include "gatehouse.stateStore" .) "redis" }}
{{- $_ := set $cfg "state" (dict "store" "redis" "redis" (dict "url" $redisUrl "keyPrefix" $v.state.keyPrefix)) }}
{{- else }}
{{- $_ := set $cfg "state" (dict "store" "memory") }}
{{- end }}
{{- /* rateLimits: a bucket only when set ({} is off). `--set` passes 0.5 as a string: numbers are made numbers. */}}
{{- $limits := dict "onStoreError" $v.rateLimits.onStoreError }}
{{- range $bucket := list "perAgent" "perAgentTool" }}
{{- with get $v.rateLimits $bucket }}
{{- $b := deepCopy . }}
{{- if kindIs "string" $b.perMinute }}
{{- $_ := set $b "perMinute" (float64 $b.perMinute) }}
{{- end }}
{{- if and (hasKey $b "burst") (kindIs "string" (get $b "burst")) }}
{{- $_ := set $b "burst" (int64 (get $b "burst")) }}
{{- end }}
{{- $_ := set $limits $bucket $b }}
{{- end }}
{{- end }}
{{- $_ := set $cfg "rateLimits" $limits }}
{{- /* servers */}}
{{- $servers := list }}
{{- range $s := $v.servers }}
{{- $entry := dict "name" $s.name "transport" "http" "url" (include "gatehouse.server.url" (dict "root" $ "server" $s)) }}
{{- range $key := list "alias" "tools" "timeoutMs" "required" "identity" "roots" "headers" "scope" "maxInstances" "idleTimeoutMs" "protocol" }}
{{- if hasKey $s $key }}
{{- $_ := set $entry $key (get $s $key) }}
{{- end }}
{{- end }}
{{- $servers = append $servers $entry }}
{{- end }}
{{- $servers = concat $servers $v.extraServers }}
{{- if $servers }}
{{- $_ := set $cfg "servers" $servers }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
