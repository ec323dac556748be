{{/*
One named template renders everything a service needs: ConfigMap, Deployment, Service, and
(when asked for) HorizontalPodAutoscaler, PodDisruptionBudget and NetworkPolicy.
Call it with (dict "root" $ "component" "gateway|router|sender|simulator|console").
*/}}
{{- define "numproxy.component" -}}
{{- $root := .root }}
{{- $c := .component }}
{{- $v := index $root.Values $c }}
{{- $name := include "numproxy.componentName" . }}
{{- $port := include "numproxy.containerPort" $c | int }}
{{- $grpc := or (eq $c "router") (eq $c "sender") }}
{{- $tls := include "numproxy.usesTls" . }}
{{- $metricsPort := include "numproxy.metricsPort" . }}
{{- $config := include "numproxy.config" . | trim }}
{{- $sqlite := and (eq $c "router") (eq $root.Values.database.type "sqlite") }}
{{- $minReplicas := include "numproxy.minReplicas" . | int }}
{{- $ready := get (dict "gateway" "/readyz" "console" "/readyz" "simulator" "/_sim/health") $c }}
{{- $alive := get (dict "gateway" "/healthz" "console" "/healthz" "simulator" "/_sim/health") $c }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
  labels:
    {{- include "numproxy.componentLabels" . | nindent 4 }}
data:
  {{- $config | nindent 2 }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "numproxy.componentLabels" . | nindent 4 }}
spec:
  {{- if not (and (hasKey $v "autoscaling") $v.autoscaling.enabled) }}
  replicas: {{ default 1 $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "numproxy.componentSelectorLabels" . | nindent 6 }}
  strategy:
    {{- if $sqlite }}
    # One SQLite file on a ReadWriteOnce volume: never two routers at once.
    type: Recreate
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    {{- end }}
  template:
    metadata:
      annotations:
        checksum/config: {{ $config | sha256sum }}
        {{- if not $root.Values.secrets.existingSecret }}
        checksum/secret: {{ include "numproxy.secretData" $root | sha256sum }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "numproxy.componentLabels" . | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      serviceAccountName: {{ include "numproxy.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
      # Service links would define NUMPROXY_ROUTER_PORT=tcp://... and the like, which collide
      # with the services' own settings.
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ add (int $root.Values.shutdownGrace) 10 }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ $c }}
          image: {{ include "numproxy.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: ["numproxy", {{ $c | quote }}]
          ports:
            - name: {{ ternary "grpc" "http" $grpc }}
              containerPort: {{ $port }}
              protocol: TCP
            {{- if $grpc }}
            - name: health
              containerPort: {{ $root.Values.grpcHealthPort }}
              protocol: TCP
            {{- end }}
            {{- if $metricsPort }}
            - name: metrics
              containerPort: {{ $metricsPort }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ $name }}
          {{- with include "numproxy.secretEnv" . }}
          env:
            {{- . | nindent 12 }}
          {{- end }}
          {{- if $grpc }}
          # The health-only plaintext port: kubelet's grpc probe speaks no TLS.
          readinessProbe:
            grpc:
              port: {{ $root.Values.grpcHealthPort }}
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
          livenessProbe:
            grpc:
              port: {{ $root.Values.grpcHealthPort }}
            initialDelaySeconds: 10
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 6
          {{- else }}
          readinessProbe:
            httpGet:
              path: {{ $ready }}
              port: http
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
          livenessProbe:
            httpGet:
              path: {{ $alive }}
              port: http
            initialDelaySeconds: 10
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 6
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if $sqlite }}
            - name: data
              mountPath: /var/lib/numproxy
            {{- end }}
            {{- if $tls }}
            - name: tls
              mountPath: {{ include "numproxy.tlsMount" $root }}
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if $tls }}
        - name: tls
          secret:
            secretName: {{ include "numproxy.tlsSecret" . }}
            defaultMode: 0440
        {{- end }}
        {{- if $sqlite }}
        - name: data
          persistentVolumeClaim:
            claimName: {{ include "numproxy.sqliteClaim" $root }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "numproxy.componentLabels" . | nindent 4 }}
  {{- with $v.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $v.service.type }}
  selector:
    {{- include "numproxy.componentSelectorLabels" . | nindent 4 }}
  ports:
    - name: {{ ternary "grpc" "http" $grpc }}
      port: {{ $v.service.port }}
      targetPort: {{ ternary "grpc" "http" $grpc }}
      protocol: TCP
      appProtocol: {{ ternary "grpc" "http" $grpc }}
    {{- if $grpc }}
    # Health only, plaintext (helm test asks it).
    - name: health
      port: {{ $root.Values.grpcHealthPort }}
      targetPort: health
      protocol: TCP
      appProtocol: grpc
    {{- end }}
    {{- if $metricsPort }}
    - name: metrics
      port: {{ $metricsPort }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
    {{- end }}
{{- if and (hasKey $v "autoscaling") $v.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "numproxy.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- if and (hasKey $v "podDisruptionBudget") (gt $minReplicas 1) }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "numproxy.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: {{ $v.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "numproxy.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- if $root.Values.networkPolicy.enabled }}
---
{{ include "numproxy.networkPolicy" . }}
{{- end }}
{{- end }}

{{/*
NetworkPolicy of one component: ingress -> gateway -> router -> sender -> provider,
router -> database, simulator <-> sender/gateway in sandbox mode, DNS for everyone.
*/}}
{{- define "numproxy.networkPolicy" -}}
{{- $root := .root }}
{{- $c := .component }}
{{- $np := $root.Values.networkPolicy }}
{{- $port := include "numproxy.containerPort" $c | int }}
{{- $peer := dict "root" $root }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "numproxy.componentName" . }}
  labels:
    {{- include "numproxy.componentLabels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "numproxy.componentSelectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    {{- if eq $c "gateway" }}
    - ports:
        - port: {{ $port }}
          protocol: TCP
      {{- with $np.gateway.from }}
      from:
        {{- toYaml . | nindent 8 }}
        {{- include "numproxy.podPeer" (dict "root" $root "component" "test") | nindent 8 }}
        {{- if $root.Values.simulator.enabled }}
        - podSelector:
            matchLabels:
              {{- include "numproxy.componentSelectorLabels" (dict "root" $root "component" "simulator") | nindent 14 }}
        {{- end }}
      {{- end }}
    {{- else if eq $c "router" }}
    - ports:
        - port: {{ $port }}
          protocol: TCP
        - port: {{ $root.Values.grpcHealthPort }}
          protocol: TCP
      from:
        {{- include "numproxy.podPeer" (dict "root" $root "component" "gateway") | nindent 8 }}
        {{- include "numproxy.podPeer" (dict "root" $root "component" "test") | nindent 8 }}
        {{- if $root.Values.console.enabled }}
        {{- include "numproxy.podPeer" (dict "root" $root "component" "console") | nindent 8 }}
        {{- end }}
        {{- with $np.router.clients }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    {{- else if eq $c "sender" }}
    - ports:
        - port: {{ $port }}
          protocol: TCP
        - port: {{ $root.Values.grpcHealthPort }}
          protocol: TCP
      from:
        {{- include "numproxy.podPeer" (dict "root" $root "component" "router") | nindent 8 }}
        {{- include "numproxy.podPeer" (dict "root" $root "component" "test") | nindent 8 }}
    {{- else if eq $c "simulator" }}
    - ports:
        - port: {{ $port }}
          protocol: TCP
      {{- with $np.simulator.from }}
      from:
        {{- toYaml . | nindent 8 }}
        {{- include "numproxy.podPeer" (dict "root" $root "component" "sender") | nindent 8 }}
      {{- end }}
    {{- else if eq $c "console" }}
    - ports:
        - port: {{ $port }}
          protocol: TCP
      {{- with $np.console.from }}
      from:
        {{- toYaml . | nindent 8 }}
        {{- include "numproxy.podPeer" (dict "root" $root "component" "test") | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- /* The gateway's /metrics shares the webhook port: a rule of its own only when
    gateway.from restricts that port (else any source reaches it already). */}}
    {{- $metricsPort := ternary (ternary $port "" (gt (len $np.gateway.from) 0)) (include "numproxy.metricsPort" .) (eq $c "gateway") }}
    {{- if $metricsPort }}
    # Prometheus scraping /metrics.
    - ports:
        - port: {{ $metricsPort }}
          protocol: TCP
      {{- with $np.metrics.from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
  egress:
    - ports:
        - port: {{ $np.dns.port }}
          protocol: UDP
        - port: {{ $np.dns.port }}
          protocol: TCP
    {{- if and $root.Values.tracing.otlpEndpoint (has $c (list "gateway" "router" "sender")) }}
    # Spans to the OpenTelemetry collector.
    - ports:
        - port: {{ $np.tracing.port }}
          protocol: TCP
      {{- with $np.tracing.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if or (eq $c "gateway") (eq $c "console") }}
    - ports:
        - port: {{ include "numproxy.containerPort" "router" }}
          protocol: TCP
      to:
        {{- include "numproxy.podPeer" (dict "root" $root "component" "router") | nindent 8 }}
    {{- else if eq $c "router" }}
    - ports:
        - port: {{ include "numproxy.containerPort" "sender" }}
          protocol: TCP
      to:
        {{- include "numproxy.podPeer" (dict "root" $root "component" "sender") | nindent 8 }}
    {{- if eq $root.Values.database.type "postgresql" }}
    - ports:
        - port: {{ $np.database.port }}
          protocol: TCP
      {{- with $np.database.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- else if eq $c "sender" }}
    {{- if $root.Values.simulator.enabled }}
    - ports:
        - port: {{ include "numproxy.containerPort" "simulator" }}
          protocol: TCP
      to:
        {{- include "numproxy.podPeer" (dict "root" $root "component" "simulator") | nindent 8 }}
    {{- else }}
    - ports:
        - port: {{ $np.sender.providerPort }}
          protocol: TCP
      {{- with $np.sender.providerEgress }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- else if eq $c "simulator" }}
    - ports:
        - port: {{ include "numproxy.containerPort" "gateway" }}
          protocol: TCP
      to:
        {{- include "numproxy.podPeer" (dict "root" $root "component" "gateway") | nindent 8 }}
    {{- end }}
{{- end }}

{{- define "numproxy.podPeer" -}}
- podSelector:
    matchLabels:
      {{- include "numproxy.componentSelectorLabels" . | nindent 6 }}
{{- end }}
