{{/*
Expand the name of the chart.
*/}}
{{- define "numproxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "numproxy.fullname" -}}
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

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "numproxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "numproxy.labels" -}}
helm.sh/chart: {{ include "numproxy.chart" . }}
{{ include "numproxy.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: numproxy
{{- end }}

{{/*
Selector labels
*/}}
{{- define "numproxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "numproxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "numproxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "numproxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Per-component helpers. They take (dict "root" $ "component" "router").
*/}}
{{- define "numproxy.componentName" -}}
{{- printf "%s-%s" (include "numproxy.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "numproxy.componentLabels" -}}
{{ include "numproxy.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "numproxy.componentSelectorLabels" -}}
{{ include "numproxy.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The image reference: repository@digest, or repository:tag (tag defaults to appVersion).
*/}}
{{- define "numproxy.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The Secret holding credentials and the database URL.
*/}}
{{- define "numproxy.secretName" -}}
{{- default (include "numproxy.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Container port of each component (fixed; the Services' ports are configurable).
*/}}
{{- define "numproxy.containerPort" -}}
{{- get (dict "gateway" 8080 "router" 50051 "sender" 50052 "simulator" 8090 "console" 8070) . }}
{{- end }}

{{/*
In-cluster addresses, by Service name (the same names the deployment rehearsal gives its
containers).
*/}}
{{- define "numproxy.routerAddress" -}}
{{- printf "%s:%v" (include "numproxy.componentName" (dict "root" . "component" "router")) .Values.router.service.port }}
{{- end }}

{{- define "numproxy.senderAddress" -}}
{{- printf "%s:%v" (include "numproxy.componentName" (dict "root" . "component" "sender")) .Values.sender.service.port }}
{{- end }}

{{- define "numproxy.gatewayUrl" -}}
{{- printf "http://%s:%v" (include "numproxy.componentName" (dict "root" . "component" "gateway")) .Values.gateway.service.port }}
{{- end }}

{{- define "numproxy.simulatorUrl" -}}
{{- printf "http://%s:%v" (include "numproxy.componentName" (dict "root" . "component" "simulator")) .Values.simulator.service.port }}
{{- end }}

{{/*
TLS: the components with a certificate, where it is mounted, and the Secret holding it
(the operator's, or the one cert-manager writes). Take (dict "root" $ "component" "router").
*/}}
{{- define "numproxy.tlsComponents" -}}
router sender gateway console
{{- end }}

{{- define "numproxy.usesTls" -}}
{{- if and .root.Values.tls.enabled (has .component (splitList " " (include "numproxy.tlsComponents" .root))) }}true{{- end }}
{{- end }}

{{- define "numproxy.tlsMount" -}}
/etc/numproxy/tls
{{- end }}

{{- define "numproxy.tlsSecret" -}}
{{- if .root.Values.tls.certManager.enabled }}
{{- printf "%s-tls" (include "numproxy.componentName" .) }}
{{- else }}
{{- index .root.Values.tls.secrets .component }}
{{- end }}
{{- end }}

{{- define "numproxy.sqliteUrl" -}}
sqlite+aiosqlite:////var/lib/numproxy/numproxy.db
{{- end }}

{{/*
Non-secret settings of a component, as a YAML map of NUMPROXY_* variables. The ConfigMap
renders them; the migration Job (which runs before the ConfigMap exists) renders the router's
inline. User `config` entries come last and win.
*/}}
{{- define "numproxy.config" -}}
{{- $root := .root }}
{{- $c := .component }}
{{- $v := index $root.Values $c }}
{{- $prefix := printf "NUMPROXY_%s_" (upper $c) }}
{{- $env := dict }}
{{- $_ := set $env "HOST" "0.0.0.0" }}
{{- $_ := set $env "PORT" (include "numproxy.containerPort" $c) }}
{{- $_ := set $env "LOG_LEVEL" $root.Values.logLevel }}
{{- $_ := set $env "LOG_FORMAT" $root.Values.logFormat }}
{{- $_ := set $env "SHUTDOWN_GRACE" (toString $root.Values.shutdownGrace) }}
{{- if has $c (splitList " " (include "numproxy.tlsComponents" $root)) }}
{{- if $root.Values.tls.enabled }}
{{- $mount := include "numproxy.tlsMount" $root }}
{{- $_ := set $env "TLS_CERT" (printf "%s/tls.crt" $mount) }}
{{- $_ := set $env "TLS_KEY" (printf "%s/tls.key" $mount) }}
{{- $_ := set $env "TLS_CA" (printf "%s/ca.crt" $mount) }}
{{- else }}
{{- $_ := set $env "ALLOW_PLAINTEXT" "true" }}
{{- end }}
{{- end }}
{{- if or (eq $c "router") (eq $c "sender") }}
{{- $_ := set $env "HEALTH_PORT" (toString $root.Values.grpcHealthPort) }}
{{- end }}
{{- if eq $c "gateway" }}
{{- $_ := set $env "ROUTER_ADDRESS" (include "numproxy.routerAddress" $root) }}
{{- if $root.Values.gateway.signature.enabled }}
{{- $_ := set $env "SIGNATURE_METHOD" $root.Values.gateway.signature.method }}
{{- $_ := set $env "SIGNATURE_MAX_AGE" (toString $root.Values.gateway.signature.maxAge) }}
{{- else }}
{{- $_ := set $env "ALLOW_UNSIGNED" "true" }}
{{- end }}
{{- else if eq $c "router" }}
{{- $_ := set $env "SENDER_ADDRESS" (include "numproxy.senderAddress" $root) }}
{{- $_ := set $env "METRICS_PORT" (toString $root.Values.metrics.port) }}
{{- $_ := set $env "METRICS_INTERVAL" (toString $root.Values.metrics.interval) }}
{{- if eq $root.Values.database.type "sqlite" }}
{{- $_ := set $env "DATABASE_URL" (include "numproxy.sqliteUrl" $root) }}
{{- end }}
{{- $callers := deepCopy $root.Values.router.callers }}
{{- if and $root.Values.console.enabled (not (hasKey $callers "console")) }}
{{- $_ := set $callers "console" (dict "scopes" (list "sessions:read" "sessions:write" "interactions:read" "pools:admin" "events:read")) }}
{{- end }}
{{- $_ := set $env "CALLERS" (toJson $callers) }}
{{- $_ := set $env "REFLECTION" (toString $root.Values.grpcReflection) }}
{{- else if eq $c "sender" }}
{{- $_ := set $env "CALLERS" (toJson $root.Values.sender.callers) }}
{{- $_ := set $env "REFLECTION" (toString $root.Values.grpcReflection) }}
{{- $_ := set $env "BASE_URL" (ternary (include "numproxy.simulatorUrl" $root) $root.Values.sender.baseUrl $root.Values.simulator.enabled) }}
{{- $_ := set $env "AUTH_METHOD" $root.Values.sender.authMethod }}
{{- $_ := set $env "METRICS_PORT" (toString $root.Values.metrics.port) }}
{{- if eq $root.Values.sender.authMethod "signature" }}
{{- $_ := set $env "SIGNATURE_METHOD" $root.Values.gateway.signature.method }}
{{- end }}
{{- else if eq $c "simulator" }}
{{- $_ := set $env "GATEWAY_URL" (include "numproxy.gatewayUrl" $root) }}
{{- if $root.Values.gateway.signature.enabled }}
{{- $_ := set $env "SIGNATURE_METHOD" $root.Values.gateway.signature.method }}
{{- end }}
{{- else if eq $c "console" }}
{{- $auth := $root.Values.console.auth }}
{{- $_ := set $env "ROUTER_ADDRESS" (include "numproxy.routerAddress" $root) }}
{{- $_ := set $env "AUTH_HEADER" $auth.header }}
{{- $_ := set $env "TRUSTED_PROXIES" (toJson $auth.trustedProxies) }}
{{- $_ := set $env "HEADER_DEFAULT_ROLE" $auth.headerDefaultRole }}
{{- $_ := set $env "HEADER_ROLES" (toJson $auth.headerRoles) }}
{{- end }}
{{- range $k, $val := $v.config }}
{{- $_ := set $env $k (toString $val) }}
{{- end }}
{{- range $k := keys $env | sortAlpha }}
{{ printf "%s%s" $prefix $k }}: {{ index $env $k | quote }}
{{- end }}
{{- include "numproxy.tracingEnv" . }}
{{- end }}

{{/*
The OpenTelemetry SDK's own variables (docs/operations.md), for the services that trace.
*/}}
{{- define "numproxy.tracingEnv" -}}
{{- $t := .root.Values.tracing }}
{{- if and $t.otlpEndpoint (has .component (list "gateway" "router" "sender")) }}
{{- $otel := dict "OTEL_EXPORTER_OTLP_ENDPOINT" $t.otlpEndpoint "OTEL_EXPORTER_OTLP_PROTOCOL" $t.protocol }}
{{- range $k, $val := $t.env }}
{{- $_ := set $otel $k (toString $val) }}
{{- end }}
{{- range $k := keys $otel | sortAlpha }}
{{ $k }}: {{ index $otel $k | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Whether a component serves metrics on their own port (the router and the sender).
*/}}
{{- define "numproxy.metricsPort" -}}
{{- if and (has .component (list "router" "sender")) (gt (int .root.Values.metrics.port) 0) }}
{{- .root.Values.metrics.port }}
{{- end }}
{{- end }}

{{/*
Variables read from the Secret, per component, as a list of EnvVar.
*/}}
{{- define "numproxy.secretEnv" -}}
{{- $root := .root }}
{{- $c := .component }}
{{- $s := $root.Values.secrets }}
{{- $name := include "numproxy.secretName" $root }}
{{- $prefix := printf "NUMPROXY_%s_" (upper $c) }}
{{- $refs := list }}
{{- if or (eq $c "sender") (eq $c "simulator") }}
{{- $refs = append $refs (list "API_KEY" $s.keys.vonageApiKey) }}
{{- $refs = append $refs (list "API_SECRET" $s.keys.vonageApiSecret) }}
{{- end }}
{{- if and (eq $c "sender") (eq $root.Values.sender.authMethod "signature") }}
{{- $refs = append $refs (list "SIGNATURE_SECRET" $s.keys.signatureSecret) }}
{{- end }}
{{- if and (or (eq $c "gateway") (eq $c "simulator")) $root.Values.gateway.signature.enabled }}
{{- $refs = append $refs (list "SIGNATURE_SECRET" $s.keys.signatureSecret) }}
{{- end }}
{{- if and (eq $c "router") (eq $root.Values.database.type "postgresql") }}
{{- $refs = append $refs (list "DATABASE_URL" $s.keys.databaseUrl) }}
{{- end }}
{{- if eq $c "console" }}
{{- $refs = append $refs (list "SECRET_KEY" $s.keys.consoleSecretKey) }}
{{- /* Optional: with header authentication only, the Secret needs no accounts. */ -}}
{{- $refs = append $refs (list "USERS" $s.keys.consoleUsers true) }}
{{- end }}
{{- range $refs }}
- name: {{ printf "%s%s" $prefix (index . 0) }}
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ index . 1 }}
      {{- if gt (len .) 2 }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}

{{/*
Replicas a component runs at least (autoscaling's minimum when it is on).
*/}}
{{- define "numproxy.minReplicas" -}}
{{- $v := index .root.Values .component }}
{{- if and (hasKey $v "autoscaling") $v.autoscaling.enabled }}
{{- $v.autoscaling.minReplicas }}
{{- else }}
{{- default 1 $v.replicaCount }}
{{- end }}
{{- end }}

{{/*
Chart-wide validation: fail early with a message instead of rendering something that can't work.
*/}}
{{- define "numproxy.validate" -}}
{{- if eq .Values.database.type "sqlite" }}
{{- if or (gt (int .Values.router.replicaCount) 1) .Values.router.autoscaling.enabled }}
{{- fail "database.type=sqlite supports exactly one router replica: use database.type=postgresql to scale the router" }}
{{- end }}
{{- end }}
{{- if and .Values.gateway.signature.enabled (not .Values.secrets.existingSecret) (not .Values.secrets.signatureSecret) }}
{{- fail "gateway.signature.enabled needs the Vonage signature secret: set secrets.existingSecret (recommended; key secrets.keys.signatureSecret) or secrets.signatureSecret, or gateway.signature.enabled=false to accept unsigned webhooks" }}
{{- end }}
{{- if and (eq .Values.database.type "postgresql") (not .Values.secrets.existingSecret) (not .Values.secrets.databaseUrl) }}
{{- fail "database.type=postgresql needs the database URL: set secrets.existingSecret (recommended) or secrets.databaseUrl" }}
{{- end }}
{{- if .Values.console.enabled }}
{{- $auth := .Values.console.auth }}
{{- if and $auth.header (not $auth.trustedProxies) }}
{{- fail "console.auth.header needs console.auth.trustedProxies (the auth proxies' addresses)" }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- if lt (len .Values.secrets.consoleSecretKey) 32 }}
{{- fail "console.enabled needs secrets.consoleSecretKey (32+ characters) or secrets.existingSecret" }}
{{- end }}
{{- if and (not $auth.header) (not .Values.secrets.consoleUsers) }}
{{- fail "console.enabled needs authentication: console.auth.header + trustedProxies, or login accounts (secrets.consoleUsers / the Secret's console-users key)" }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- if .Values.tls.certManager.enabled }}
{{- if not .Values.tls.certManager.issuerRef.name }}
{{- fail "tls.certManager.enabled needs tls.certManager.issuerRef.name (the Issuer or ClusterIssuer that signs the components' certificates)" }}
{{- end }}
{{- else }}
{{- range $c := splitList " " (include "numproxy.tlsComponents" .) }}
{{- if and (or (ne $c "console") $.Values.console.enabled) (not (index $.Values.tls.secrets $c)) }}
{{- fail (printf "tls.enabled needs the %s's certificate: set tls.secrets.%s (a Secret with tls.crt, tls.key and ca.crt), or tls.certManager.enabled=true with tls.certManager.issuerRef, or tls.enabled=false for plaintext gRPC" $c $c) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Data of the chart-managed Secret (base64), keys as configured in secrets.keys.
*/}}
{{- define "numproxy.secretData" -}}
{{- $s := .Values.secrets }}
{{ $s.keys.vonageApiKey }}: {{ $s.vonageApiKey | b64enc | quote }}
{{ $s.keys.vonageApiSecret }}: {{ $s.vonageApiSecret | b64enc | quote }}
{{ $s.keys.signatureSecret }}: {{ $s.signatureSecret | b64enc | quote }}
{{- if eq .Values.database.type "postgresql" }}
{{ $s.keys.databaseUrl }}: {{ $s.databaseUrl | b64enc | quote }}
{{- end }}
{{- if .Values.console.enabled }}
{{ $s.keys.consoleSecretKey }}: {{ $s.consoleSecretKey | b64enc | quote }}
{{- if $s.consoleUsers }}
{{ $s.keys.consoleUsers }}: {{ $s.consoleUsers | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of the SQLite volume claim.
*/}}
{{- define "numproxy.sqliteClaim" -}}
{{- printf "%s-data" (include "numproxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
