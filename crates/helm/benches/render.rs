//! Benchmark: rendering a chart of about 200 templates (a parent and two sub-charts) with
//! gitfleet's native renderer and with Helm 4's Go SDK (the PyPI package helm-python-sdk),
//! 50 times each, in one run.
//!
//! The chart is generated, shaped as popular public charts are: `helm create`'s `_helpers.tpl`
//! (name, fullname, chart, labels, selectorLabels, serviceAccountName) with component helpers
//! on top, a Deployment, Service, ConfigMap and Ingress per component (`include`,
//! `toYaml | nindent`, `range` over maps and lists, `tpl`, `with`, conditionals, `.Files.Get`,
//! the checksum-of-the-ConfigMap annotation), an HPA ranging over the components, and two
//! sub-charts whose values the parent overrides, with globals.
//!
//! Both renderers must give the same documents (each parsed as YAML) or the bench fails.
//! Each side runs in its own process, so that its peak resident memory can be measured
//! (`/usr/bin/time -v` where it exists, else the process's own VmHWM / ru_maxrss):
//! gitfleet's side is this binary re-executed, timing load + render of every iteration;
//! Helm's side is one Python process timing `Chart.load` + `render` of every iteration.
//!
//! `cargo bench -p gitfleet-helm --bench render`; the oracle's Python is
//! `GITFLEET_HELM_PYTHON`, else the repository's `.venv/bin/python` (scripts/test.sh installs
//! helm-python-sdk there); if it cannot run the bench fails. `GITFLEET_BENCH_DIR` keeps the
//! generated chart (and the scripts) there, for profiling either side.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

const RUNS: usize = 50;
const RELEASE: &str = "prod";
const NAMESPACE: &str = "shop";
/// Set in the environment of the re-executed binary: it renders instead of benchmarking.
const CHILD: &str = "GITFLEET_HELM_BENCH_CHILD";

/// The parent chart and its two sub-charts: name, version, appVersion, components.
const CHARTS: [(&str, &str, &str, &[&str]); 3] = [
    (
        "shop",
        "1.2.3",
        "2.4.1",
        &[
            "api",
            "web",
            "worker",
            "scheduler",
            "gateway",
            "auth",
            "billing",
            "catalog",
            "search",
            "notifier",
            "reporting",
            "ingestor",
            "checkout",
            "cart",
            "inventory",
            "pricing",
            "recommender",
            "reviews",
            "shipping",
            "payments",
            "admin",
            "media",
            "analytics",
            "webhooks",
        ],
    ),
    (
        "backend",
        "0.3.0",
        "5.1.0",
        &[
            "orders", "accounts", "ledger", "exporter", "importer", "mailer", "indexer",
            "archiver", "audit", "sessions", "tokens", "quota",
        ],
    ),
    (
        "cache",
        "0.5.1",
        "7.2.4",
        &[
            "primary", "replica", "sentinel", "metrics", "proxy", "warmer", "evictor", "snapshot",
            "restore", "monitor", "shard-a", "shard-b",
        ],
    ),
];

const HELPERS: &str = r#"{{/*
Expand the name of the chart.
*/}}
{{- define "@P@.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "@P@.fullname" -}}
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
{{- define "@P@.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "@P@.labels" -}}
helm.sh/chart: {{ include "@P@.chart" . }}
{{ include "@P@.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ .Release.Name }}
{{- with .Values.global }}
{{- with .labels }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "@P@.selectorLabels" -}}
app.kubernetes.io/name: {{ include "@P@.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "@P@.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "@P@.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
A component's name: (dict "root" $ "name" NAME "component" VALUES)
*/}}
{{- define "@P@.componentFullname" -}}
{{- printf "%s-%s" (include "@P@.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "@P@.componentSelectorLabels" -}}
{{ include "@P@.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "@P@.componentLabels" -}}
{{ include "@P@.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- with .component.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The image of a component: the global registry wins over the chart's.
*/}}
{{- define "@P@.image" -}}
{{- $root := .root -}}
{{- $registry := $root.Values.image.registry -}}
{{- with $root.Values.global }}{{ with .imageRegistry }}{{ $registry = . }}{{ end }}{{ end -}}
{{- $repo := .component.image.repository | default (printf "%s/%s" $root.Values.image.repository .name) -}}
{{- $tag := .component.image.tag | default $root.Values.image.tag | default $root.Chart.AppVersion -}}
{{- printf "%s/%s:%s" $registry $repo (toString $tag) -}}
{{- end }}

{{- define "@P@.imagePullSecrets" -}}
{{- $secrets := concat (.Values.global.imagePullSecrets | default list) (.Values.imagePullSecrets | default list) -}}
{{- with $secrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ .name }}
{{- end }}
{{- end }}
{{- end }}
"#;

const DEPLOYMENT: &str = r#"{{- $c := index .Values.components "@C@" }}
{{- if $c.enabled }}
{{- $ctx := dict "root" $ "name" "@C@" "component" $c }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "@P@.componentFullname" $ctx }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "@P@.componentLabels" $ctx | nindent 4 }}
  {{- with $c.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if not $c.autoscaling.enabled }}
  replicas: {{ $c.replicaCount | default .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "@P@.componentSelectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap-@C@.yaml") . | sha256sum }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "@P@.componentLabels" $ctx | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "@P@.imagePullSecrets" . | nindent 6 }}
      serviceAccountName: {{ include "@P@.serviceAccountName" . }}
      {{- with .Values.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: @C@
          image: {{ include "@P@.image" $ctx | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          {{- with .Values.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $c.args }}
          args:
            {{- range . }}
            - {{ tpl . $ | quote }}
            {{- end }}
          {{- end }}
          env:
            - name: COMPONENT
              value: @C@
            - name: ENVIRONMENT
              value: {{ .Values.global.environment | default "dev" | quote }}
            {{- range $k, $v := $c.env }}
            - name: {{ $k }}
              value: {{ tpl (toString $v) $ | quote }}
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "@P@.componentFullname" $ctx }}
          ports:
            {{- range $c.ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: {{ .protocol | default "TCP" }}
            {{- end }}
          {{- with .Values.livenessProbe }}
          livenessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .Values.readinessProbe }}
          readinessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          resources:
            {{- toYaml ($c.resources | default .Values.resources) | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/@C@
              readOnly: true
      volumes:
        - name: config
          configMap:
            name: {{ include "@P@.componentFullname" $ctx }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
"#;

const SERVICE: &str = r#"{{- $c := index .Values.components "@C@" }}
{{- if and $c.enabled $c.service.enabled }}
{{- $ctx := dict "root" $ "name" "@C@" "component" $c }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "@P@.componentFullname" $ctx }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "@P@.componentLabels" $ctx | nindent 4 }}
spec:
  type: {{ $c.service.type | default "ClusterIP" }}
  ports:
    {{- range $c.ports }}
    - port: {{ .servicePort | default .port }}
      targetPort: {{ .name }}
      protocol: {{ .protocol | default "TCP" }}
      name: {{ .name }}
    {{- end }}
  selector:
    {{- include "@P@.componentSelectorLabels" $ctx | nindent 4 }}
{{- end }}
"#;

const CONFIGMAP: &str = r#"{{- $c := index .Values.components "@C@" }}
{{- if $c.enabled }}
{{- $ctx := dict "root" $ "name" "@C@" "component" $c }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "@P@.componentFullname" $ctx }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "@P@.componentLabels" $ctx | nindent 4 }}
data:
  COMPONENT: @C@
  {{- range $k, $v := $c.config }}
  {{ $k }}: {{ $v | quote }}
  {{- end }}
  {{- range $k, $v := .Values.settings }}
  setting.{{ $k }}: {{ $v | quote }}
  {{- end }}
  app.conf: |-
    {{- tpl (.Files.Get "files/app.conf") . | nindent 4 }}
  logging.yaml: |-
    {{- .Files.Get "files/logging.yaml" | nindent 4 }}
{{- end }}
"#;

const INGRESS: &str = r#"{{- $c := index .Values.components "@C@" }}
{{- if and $c.enabled $c.ingress.enabled }}
{{- $ctx := dict "root" $ "name" "@C@" "component" $c }}
{{- $fullName := include "@P@.componentFullname" $ctx -}}
{{- $svcPort := (first $c.ports).servicePort | default (first $c.ports).port -}}
{{- if .Capabilities.APIVersions.Has "networking.k8s.io/v1" }}
apiVersion: networking.k8s.io/v1
{{- else }}
apiVersion: networking.k8s.io/v1beta1
{{- end }}
kind: Ingress
metadata:
  name: {{ $fullName }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "@P@.componentLabels" $ctx | nindent 4 }}
  {{- with $c.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if and $c.ingress.className (semverCompare ">=1.18-0" .Capabilities.KubeVersion.GitVersion) }}
  ingressClassName: {{ $c.ingress.className }}
  {{- end }}
  {{- if $c.ingress.tls }}
  tls:
    {{- range $c.ingress.tls }}
    - hosts:
        {{- range .hosts }}
        - {{ tpl . $ | quote }}
        {{- end }}
      secretName: {{ .secretName }}
    {{- end }}
  {{- end }}
  rules:
    {{- range $c.ingress.hosts }}
    - host: {{ tpl .host $ | quote }}
      http:
        paths:
          {{- range .paths }}
          - path: {{ .path }}
            pathType: {{ .pathType | default "Prefix" }}
            backend:
              service:
                name: {{ $fullName }}
                port:
                  number: {{ $svcPort }}
          {{- end }}
    {{- end }}
{{- end }}
"#;

const SERVICE_ACCOUNT: &str = r#"{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "@P@.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "@P@.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
{{- end }}
"#;

const HPA: &str = r#"{{- range $name, $c := .Values.components }}
{{- if and $c.enabled $c.autoscaling.enabled }}
{{- $ctx := dict "root" $ "name" $name "component" $c }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "@P@.componentFullname" $ctx }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "@P@.componentLabels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "@P@.componentFullname" $ctx }}
  minReplicas: {{ $c.autoscaling.minReplicas }}
  maxReplicas: {{ $c.autoscaling.maxReplicas }}
  metrics:
    {{- with $c.autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $c.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}
{{- end }}
"#;

const NOTES: &str = r#"Thank you for installing {{ .Chart.Name }} {{ .Chart.Version }}.

Your release is named {{ .Release.Name }}, in the namespace {{ .Release.Namespace }}.
{{- range $name, $c := .Values.components }}
{{- if and $c.enabled $c.ingress.enabled }}
  {{ $name }}: http{{ if $c.ingress.tls }}s{{ end }}://{{ tpl (first $c.ingress.hosts).host $ }}
{{- end }}
{{- end }}
"#;

const SECRET: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: {{ include "@P@.fullname" . }}-credentials
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "@P@.labels" . | nindent 4 }}
type: Opaque
data:
  {{- range $k, $v := .Values.secrets }}
  {{ $k }}: {{ $v | toString | b64enc | quote }}
  {{- end }}
  {{- range $i, $u := .Values.users }}
  user-{{ $i }}: {{ printf "%s:%s" $u.name $u.role | b64enc | quote }}
  {{- end }}
"#;

const TEST_CONNECTION: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: "{{ include "@P@.fullname" . }}-test-connection"
  labels:
    {{- include "@P@.labels" . | nindent 4 }}
  annotations:
    "helm.sh/hook": test
spec:
  containers:
    - name: wget
      image: busybox
      command: ['wget']
      args: ['{{ include "@P@.fullname" . }}:{{ .Values.service.port }}']
  restartPolicy: Never
"#;

const APP_CONF: &str = r#"# @P@ configuration, rendered with tpl
release = {{ .Release.Name }}
namespace = {{ .Release.Namespace }}
fullname = {{ include "@P@.fullname" . }}
environment = {{ .Values.global.environment | default "dev" }}
domain = {{ .Values.global.domain }}
{{- range $k, $v := .Values.settings }}
{{ $k }} = {{ $v }}
{{- end }}
{{- range .Values.users }}
user.{{ .name }} = {{ .role | upper }}
{{- end }}
"#;

const LOGGING: &str = "level: info\nformat: json\noutputs:\n  - stdout\n  - file: /var/log/app.log\nsampling:\n  initial: 100\n  thereafter: 100\n";

const HELMIGNORE: &str = "# Patterns to ignore when building packages.\n.DS_Store\n.git/\n.gitignore\n.bzr/\n.bzrignore\n.hg/\n.hgignore\n.svn/\n*.swp\n*.bak\n*.tmp\n*.orig\n*~\n.project\n.idea/\n*.tmproj\n.vscode/\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// One component's values, under `components:`; `i` varies what it enables.
fn component_values(chart: &str, name: &str, i: usize) -> String {
    let mut y = format!("  {name}:\n    enabled: {}\n", i % 9 != 8);
    if i.is_multiple_of(3) {
        y += &format!("    replicaCount: {}\n", i % 4 + 1);
    }
    if i.is_multiple_of(2) {
        y += &format!("    image:\n      repository: {chart}/{name}\n      tag: \"1.{i}.0\"\n");
        y += &format!(
            "    args:\n      - \"--name={{{{ .Release.Name }}}}-{name}\"\n      - --log-level=info\n      - \"--port={}\"\n",
            8000 + i
        );
    } else {
        y += "    image: {}\n";
    }
    if i.is_multiple_of(5) {
        y += "    labels:\n      tier: frontend\n      exposed: \"true\"\n";
    }
    if i % 3 == 2 {
        y += "    annotations:\n      prometheus.io/scrape: \"true\"\n      prometheus.io/port: \"9090\"\n";
    }
    y += &format!(
        "    env:\n      LOG_LEVEL: info\n      HTTP_PORT: {}\n      RELEASE: \"{{{{ .Release.Name }}}}\"\n      NAMESPACE: \"{{{{ .Release.Namespace }}}}\"\n      UPSTREAM: \"http://{{{{ include \\\"{chart}.fullname\\\" . }}}}-{name}:80\"\n      DEBUG: {}\n",
        8000 + i,
        i.is_multiple_of(7)
    );
    y += &format!(
        "    config:\n      cache.ttl: \"300\"\n      feature.search: true\n      pool.size: {}\n      upstream.url: http://{name}-upstream:8080\n",
        i + 4
    );
    y += &format!(
        "    ports:\n      - name: http\n        port: {}\n        servicePort: 80\n      - name: metrics\n        port: 9090\n",
        8000 + i
    );
    y += &format!(
        "    service:\n      enabled: {}\n      type: {}\n",
        i % 5 != 4,
        if i % 6 == 5 { "NodePort" } else { "ClusterIP" }
    );
    y += &format!(
        "    ingress:\n      enabled: {}\n      className: nginx\n      annotations:\n        nginx.ingress.kubernetes.io/proxy-body-size: 8m\n        cert-manager.io/cluster-issuer: letsencrypt\n      hosts:\n        - host: \"{name}.{{{{ .Values.global.domain }}}}\"\n          paths:\n            - path: /\n              pathType: Prefix\n            - path: /api/{name}\n              pathType: ImplementationSpecific\n",
        i.is_multiple_of(2)
    );
    if i.is_multiple_of(4) {
        y += &format!(
            "      tls:\n        - secretName: {name}-tls\n          hosts:\n            - \"{name}.{{{{ .Values.global.domain }}}}\"\n"
        );
    } else {
        y += "      tls: []\n";
    }
    y += &format!(
        "    autoscaling:\n      enabled: {}\n      minReplicas: 2\n      maxReplicas: {}\n      targetCPUUtilizationPercentage: 75\n",
        i % 4 == 1,
        5 + i
    );
    if i % 8 == 1 {
        y += "      targetMemoryUtilizationPercentage: 80\n";
    }
    if i % 3 == 1 {
        y += "    resources:\n      limits:\n        cpu: 500m\n        memory: 256Mi\n      requests:\n        cpu: 100m\n        memory: 128Mi\n";
    } else {
        y += "    resources: {}\n";
    }
    y
}

/// The values every chart has (`helm create`'s, and settings for the config file).
fn common_values(chart: &str) -> String {
    format!(
        r#"replicaCount: 1

image:
  registry: docker.io
  repository: {chart}
  pullPolicy: IfNotPresent
  # Overrides the image tag whose default is the chart appVersion.
  tag: ""

imagePullSecrets: []
nameOverride: ""
fullnameOverride: ""

serviceAccount:
  create: true
  automount: true
  annotations: {{}}
  name: ""

podAnnotations: {{}}
podLabels: {{}}

podSecurityContext:
  fsGroup: 2000

securityContext:
  capabilities:
    drop:
    - ALL
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  runAsUser: 1000

service:
  port: 80

resources:
  limits:
    cpu: 250m
    memory: 128Mi
  requests:
    cpu: 50m
    memory: 64Mi

livenessProbe:
  httpGet:
    path: /healthz
    port: http
readinessProbe:
  httpGet:
    path: /ready
    port: http
  initialDelaySeconds: 5

nodeSelector: {{}}
tolerations: []
affinity: {{}}

settings:
  max_connections: 100
  timeout: 30s
  region: eu-west-1
  compression: true

users:
  - name: alice
    role: admin
  - name: bob
    role: viewer
"#
    )
}

/// Writes the chart directory `dir/<name>` (sub-charts under `charts/`); returns its path
/// and how many templates it holds in all.
fn generate_chart(dir: &Path, idx: usize) -> (PathBuf, usize) {
    let (name, version, app_version, components) = CHARTS[idx];
    let root = dir.join(name);
    let sub = |t: &str| t.replace("@P@", name);
    let mut count = 0;
    let mut tpl = |file: &str, text: String| {
        write(&root.join("templates").join(file), &text);
        count += 1;
    };
    tpl("_helpers.tpl", sub(HELPERS));
    tpl("serviceaccount.yaml", sub(SERVICE_ACCOUNT));
    tpl("hpa.yaml", sub(HPA));
    tpl("NOTES.txt", sub(NOTES));
    for c in components {
        let s = |t: &str| sub(t).replace("@C@", c);
        tpl(&format!("deployment-{c}.yaml"), s(DEPLOYMENT));
        tpl(&format!("service-{c}.yaml"), s(SERVICE));
        tpl(&format!("configmap-{c}.yaml"), s(CONFIGMAP));
        tpl(&format!("ingress-{c}.yaml"), s(INGRESS));
    }
    let mut values = common_values(name);
    let mut chart_yaml = format!(
        "apiVersion: v2\nname: {name}\ndescription: The {name} chart, generated for gitfleet's render benchmark\ntype: application\nversion: {version}\nappVersion: \"{app_version}\"\nkubeVersion: \">=1.23.0-0\"\nhome: https://example.com/{name}\nsources:\n  - https://git.example.com/{name}\nkeywords:\n  - {name}\n  - benchmark\nmaintainers:\n  - name: Platform Team\n    email: platform@example.com\n"
    );
    if idx == 0 {
        tpl("secret.yaml", sub(SECRET));
        tpl("tests/test-connection.yaml", sub(TEST_CONNECTION));
        chart_yaml += "dependencies:\n  - name: backend\n    version: 0.3.0\n    repository: https://charts.example.com\n    condition: backend.enabled\n  - name: cache\n    version: 0.5.1\n    repository: https://charts.example.com\n    condition: cache.enabled\n";
        values += r#"
imagePullSecrets:
  - name: regcred

tolerations:
  - key: dedicated
    operator: Equal
    value: shop
    effect: NoSchedule

secrets:
  db-password: s3cr3t
  api-key: 0123456789abcdef
  smtp-port: 587

global:
  imageRegistry: registry.example.com
  domain: shop.example.com
  environment: staging
  imagePullSecrets:
    - name: global-regcred
  labels:
    team: commerce
    cost-center: "4711"

backend:
  enabled: true
  replicaCount: 2
  settings:
    max_connections: 500
    region: eu-central-1
  components:
    orders:
      replicaCount: 3
      env:
        LOG_LEVEL: debug
    quota:
      enabled: false
    ledger:
      resources:
        limits:
          cpu: "2"
          memory: 1Gi

cache:
  enabled: true
  image:
    pullPolicy: Always
  serviceAccount:
    create: false
    name: cache-runner
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
"#;
    } else {
        values += "\nsecrets: {}\n\nglobal:\n  imageRegistry: \"\"\n  domain: example.com\n  imagePullSecrets: []\n";
    }
    values += "\ncomponents:\n";
    for (i, c) in components.iter().enumerate() {
        values += &component_values(name, c, i);
    }
    write(&root.join("Chart.yaml"), &chart_yaml);
    write(&root.join("values.yaml"), &values);
    write(&root.join(".helmignore"), HELMIGNORE);
    write(&root.join("files/app.conf"), &sub(APP_CONF));
    write(&root.join("files/logging.yaml"), LOGGING);
    if idx == 0 {
        for sub_idx in 1..CHARTS.len() {
            count += generate_chart(&root.join("charts"), sub_idx).1;
        }
    }
    (root, count)
}

/// The values given at render time (as `-f prod.yaml` would be).
fn user_values() -> Json {
    json!({
        "replicaCount": 2,
        "global": {"environment": "production"},
        "components": {"api": {"replicaCount": 4}, "web": {"ingress": {"className": "traefik"}}},
        "backend": {"image": {"tag": "9.9.9"}},
        "cache": {"settings": {"maxmemory": "2gb"}}
    })
}

const PY_SCRIPT: &str = r#"import json, resource, sys, time
from helm_python.chart import Chart

chart_dir, values_path, out_path, runs, name, namespace = sys.argv[1:7]
with open(values_path, encoding="utf-8") as f:
    values = json.load(f)
times = []
last = None
for _ in range(int(runs)):
    start = time.perf_counter()
    with Chart.load(chart_dir) as chart:
        last = chart.render(values, name=name, namespace=namespace)
    times.append(time.perf_counter() - start)
with open(out_path, "w", encoding="utf-8") as f:
    json.dump(last, f)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"times": times, "peak_kib": peak}))
"#;

/// The peak resident memory of this process, in KiB (Linux's VmHWM).
fn own_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The re-executed binary: load and render the chart `runs` times, write the last
/// rendering's documents, print the times.
fn child(args: &[String]) {
    let [dir, values, out, runs] = args else {
        panic!("child arguments: CHART_DIR VALUES_JSON OUT_JSON RUNS, got {args:?}");
    };
    let values: helm::Vals = match serde_json::from_str(&std::fs::read_to_string(values).unwrap()) {
        Ok(Json::Object(m)) => m,
        other => panic!("{values}: not a JSON object: {other:?}"),
    };
    let opts = helm::Options {
        release_name: RELEASE.into(),
        namespace: NAMESPACE.into(),
        ..Default::default()
    };
    let mut times = Vec::new();
    let mut last = None;
    let mut usage = helm::Usage::default();
    for _ in 0..runs.parse::<usize>().unwrap() {
        let start = Instant::now();
        let chart = helm::load_dir(&helm::FsDir(PathBuf::from(dir)))
            .unwrap_or_else(|e| panic!("gitfleet cannot load the chart: {e:?}"));
        let rendered = helm::render(&chart, &values, &opts).unwrap_or_else(|e| {
            let msgs: Vec<String> = e.iter().map(|e| e.to_string()).collect();
            panic!("gitfleet cannot render the chart: {msgs:#?}")
        });
        times.push(start.elapsed().as_secs_f64());
        usage = rendered.usage;
        last = Some(rendered);
    }
    let docs: Vec<(String, String)> = last
        .unwrap()
        .manifests
        .into_iter()
        .map(|m| (m.template, m.text))
        .collect();
    std::fs::write(out, serde_json::to_string(&docs).unwrap()).unwrap();
    println!(
        "{}",
        json!({"times": times, "peak_kib": own_peak_kib(), "fuel": usage.fuel, "output_bytes": usage.output_bytes})
    );
}

struct Side {
    times: Vec<Duration>,
    /// The process from start to exit, startup included.
    wall: Duration,
    peak_kib: u64,
    /// Where the peak comes from.
    peak_source: &'static str,
    /// The whole report the side printed (gitfleet's also has the budget its render took).
    report: Json,
}

impl Side {
    fn total(&self) -> Duration {
        self.times.iter().sum()
    }
    fn mean(&self) -> Duration {
        self.total() / self.times.len() as u32
    }
    fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t[t.len() / 2]
    }
    fn min(&self) -> Duration {
        *self.times.iter().min().unwrap()
    }
}

/// Runs `program args`, under `/usr/bin/time -v` where it exists; the program prints one
/// JSON line `{"times": [seconds...], "peak_kib": N}`.
fn run_side(
    what: &str,
    program: &Path,
    args: &[&OsStr],
    env: Option<(&str, &str)>,
    scratch: &Path,
) -> Side {
    let gnu_time = Path::new("/usr/bin/time");
    let time_out = scratch.join(format!("{what}.time"));
    let use_time = gnu_time.exists();
    let mut cmd = if use_time {
        let mut c = Command::new(gnu_time);
        c.arg("-v").arg("-o").arg(&time_out).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} cannot run ({}): {e}", program.display()));
    let wall = start.elapsed();
    assert!(
        out.status.success(),
        "{what} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Json = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{what} printed no timing: {stdout}"));
    let times: Vec<Duration> = report["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Duration::from_secs_f64(t.as_f64().unwrap()))
        .collect();
    assert_eq!(times.len(), RUNS, "{what} rendered {} times", times.len());
    let measured = use_time
        .then(|| std::fs::read_to_string(&time_out).ok())
        .flatten()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
    let (peak_kib, peak_source) = match measured {
        Some(k) => (k, "/usr/bin/time -v"),
        None => (report["peak_kib"].as_u64().unwrap_or(0), "self-reported"),
    };
    Side {
        times,
        wall,
        peak_kib,
        peak_source,
        report,
    }
}

fn parse_doc(text: &str) -> Json {
    gotemplate::parse_yaml(text)
        .map(|v| v.to_json())
        .unwrap_or_else(|e| panic!("a rendered document is not YAML ({e}):\n{text}"))
}

/// (template, document) pairs, sorted; empty documents dropped.
fn docs_of(pairs: impl Iterator<Item = (String, String)>) -> Vec<(String, Json)> {
    let mut v: Vec<(String, Json)> = pairs
        .filter(|(t, _)| !t.ends_with("NOTES.txt"))
        .map(|(t, d)| (t, parse_doc(&d)))
        .filter(|(_, j)| !j.is_null())
        .collect();
    v.sort_by_cached_key(|(t, d)| (t.clone(), d.to_string()));
    v
}

/// Fails, naming every document that differs.
fn compare(helm_docs: &[(String, Json)], ours: &[(String, Json)]) {
    if helm_docs == ours {
        return;
    }
    let mut report = String::new();
    let key = |(t, d): &(String, Json)| format!("{t}: {}", d.get("kind").unwrap_or(&Json::Null));
    for (i, (h, g)) in helm_docs.iter().zip(ours).enumerate() {
        if h != g {
            report += &format!(
                "document {i}:\n  helm     {} {}\n  gitfleet {} {}\n",
                key(h),
                h.1,
                key(g),
                g.1
            );
        }
    }
    panic!(
        "gitfleet and Helm render different documents (helm {}, gitfleet {}):\n{report}",
        helm_docs.len(),
        ours.len()
    );
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os(CHILD).is_some() {
        return child(&args);
    }
    let python = std::env::var_os("GITFLEET_HELM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    let (_tmp, scratch) = match std::env::var_os("GITFLEET_BENCH_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            std::fs::create_dir_all(&d).unwrap();
            (None, d)
        }
        None => {
            let d =
                std::env::temp_dir().join(format!("gitfleet-helm-bench-{}", std::process::id()));
            (Some(TempDir(d.clone())), d)
        }
    };
    let chart_root = scratch.join("chart");
    let _ = std::fs::remove_dir_all(&chart_root);
    let (chart_dir, templates) = generate_chart(&chart_root, 0);
    let values_path = scratch.join("values.json");
    std::fs::write(
        &values_path,
        serde_json::to_string_pretty(&user_values()).unwrap(),
    )
    .unwrap();
    let script = scratch.join("helm_render.py");
    std::fs::write(&script, PY_SCRIPT).unwrap();
    let (ours_out, helm_out) = (scratch.join("gitfleet.json"), scratch.join("helm.json"));
    let runs = RUNS.to_string();
    println!(
        "chart {} with {templates} templates (parent and 2 sub-charts), {RUNS} renders each",
        chart_dir.display()
    );

    let ours = run_side(
        "gitfleet",
        &std::env::current_exe().unwrap(),
        &[
            chart_dir.as_os_str(),
            values_path.as_os_str(),
            ours_out.as_os_str(),
            runs.as_ref(),
        ],
        Some((CHILD, "1")),
        &scratch,
    );
    let theirs = run_side(
        "helm-python-sdk",
        &python,
        &[
            script.as_os_str(),
            chart_dir.as_os_str(),
            values_path.as_os_str(),
            helm_out.as_os_str(),
            runs.as_ref(),
            RELEASE.as_ref(),
            NAMESPACE.as_ref(),
        ],
        None,
        &scratch,
    );

    let ours_docs: Vec<(String, String)> =
        serde_json::from_str(&std::fs::read_to_string(&ours_out).unwrap()).unwrap();
    let ours_docs = docs_of(ours_docs.into_iter());
    let helm_map: serde_json::Map<String, Json> =
        serde_json::from_str(&std::fs::read_to_string(&helm_out).unwrap()).unwrap();
    let helm_docs = docs_of(helm_map.into_iter().flat_map(|(t, text)| {
        helm::split_manifests(text.as_str().unwrap())
            .into_iter()
            .map(move |d| (t.clone(), d))
    }));
    assert!(
        helm_docs.len() > 150,
        "Helm rendered only {} documents",
        helm_docs.len()
    );
    compare(&helm_docs, &ours_docs);
    println!("both render the same {} documents", ours_docs.len());
    let limits = helm::DEFAULT_LIMITS;
    println!(
        "gitfleet's render took {} evaluation steps of the chart-wide {} and {} bytes of output of {}",
        ours.report["fuel"], limits.fuel, ours.report["output_bytes"], limits.output_bytes
    );

    println!();
    println!(
        "{:<16} {:>12} {:>12} {:>12} {:>12} {:>13} {:>10}",
        "renderer", "total", "per render", "median", "min", "process wall", "peak RSS"
    );
    for (name, s) in [("gitfleet", &ours), ("helm-python-sdk", &theirs)] {
        println!(
            "{:<16} {:>12} {:>12} {:>12} {:>12} {:>13} {:>6.1} MiB",
            name,
            ms(s.total()),
            ms(s.mean()),
            ms(s.median()),
            ms(s.min()),
            ms(s.wall),
            s.peak_kib as f64 / 1024.0
        );
    }
    let ratio = theirs.total().as_secs_f64() / ours.total().as_secs_f64();
    println!(
        "helm / gitfleet: {ratio:.2}x time (total of {RUNS} load + render), {:.2}x peak RSS (peak RSS from {})",
        theirs.peak_kib as f64 / ours.peak_kib.max(1) as f64,
        ours.peak_source
    );
    println!(
        "target (gitfleet at least as fast): {}",
        if ratio >= 1.0 { "met" } else { "NOT met" }
    );
}

/// Removes the generated chart when the bench ends (unless GITFLEET_BENCH_DIR keeps it).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
