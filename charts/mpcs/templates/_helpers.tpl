{{/*
Names and labels shared by every template of the chart.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "mpcs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's base name for its objects: fullnameOverride, else "<release>-<name>", or just the
release name when it already contains the chart's name. Cut to 63 characters (a DNS label).
*/}}
{{- define "mpcs.fullname" -}}
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

{{/* "<name>-<version>" for the helm.sh/chart label. */}}
{{- define "mpcs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object of the release carries. */}}
{{- define "mpcs.labels" -}}
helm.sh/chart: {{ include "mpcs.chart" . }}
{{ include "mpcs.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mpcs
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the release's operator pods (immutable in a Deployment's selector). */}}
{{- define "mpcs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mpcs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The operator's labels: its component is "operator", which the ServiceMonitor turns into the
Prometheus label component="operator" that the pipeline dashboard selects (docs/dashboards.md).
*/}}
{{- define "mpcs.operator.labels" -}}
{{ include "mpcs.labels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "mpcs.operator.selectorLabels" -}}
{{ include "mpcs.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "mpcs.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mpcs.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The one MPCS image: repository:tag (tag defaults to appVersion), or pinned by digest. */}}
{{- define "mpcs.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The port the operator serves /healthz, /readyz and /metrics on (MPCS_METRICS_PORT). */}}
{{- define "mpcs.metricsPort" -}}
{{- .Values.operator.settings.metricsPort | int }}
{{- end }}

{{/*
Relabelings that give a scraped MPCS pod the target labels of docs/dashboards.md: namespace,
mission (pod label mpcs.io/mission, absent on the operator) and component
(app.kubernetes.io/component). Shared by the ServiceMonitor and the workloads' PodMonitor.
*/}}
{{- define "mpcs.prometheusRelabelings" -}}
- action: replace
  sourceLabels: [__meta_kubernetes_namespace]
  targetLabel: namespace
- action: replace
  sourceLabels: [__meta_kubernetes_pod_label_mpcs_io_mission]
  regex: (.+)
  targetLabel: mission
- action: replace
  sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
  regex: (.+)
  targetLabel: component
{{- end }}
