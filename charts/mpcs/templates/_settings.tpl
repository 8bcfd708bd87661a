{{- /*
GENERATED from operator/mpcs/operator/settings.py (OperatorSettings) by `mpcs dev chart generate` — do not edit.
A unit test fails when this file is stale.
*/}}
{{/* The operator's MPCS_* environment, one entry per operator.settings value. */}}
{{- define "mpcs.operator.env" -}}
{{- $s := .Values.operator.settings }}
{{- if not (kindIs "invalid" $s.kafkaBootstrap) }}
- name: MPCS_KAFKA_BOOTSTRAP
  value: {{ $s.kafkaBootstrap | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.kafkaSecurityProtocol) }}
- name: MPCS_KAFKA_SECURITY_PROTOCOL
  value: {{ $s.kafkaSecurityProtocol | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.kafkaCaFile) }}
- name: MPCS_KAFKA_CA_FILE
  value: {{ $s.kafkaCaFile | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.kafkaSaslMechanism) }}
- name: MPCS_KAFKA_SASL_MECHANISM
  value: {{ $s.kafkaSaslMechanism | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.kafkaSaslUsername) }}
- name: MPCS_KAFKA_SASL_USERNAME
  value: {{ $s.kafkaSaslUsername | toString | quote }}
{{- end }}
{{- with $s.kafkaSaslPassword }}{{- if .name }}
- name: MPCS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .name | quote }}
      key: {{ .key | quote }}
{{- end }}{{- end }}
{{- if not (kindIs "invalid" $s.kafkaSaslTokenProvider) }}
- name: MPCS_KAFKA_SASL_TOKEN_PROVIDER
  value: {{ $s.kafkaSaslTokenProvider | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.kafkaAwsRegion) }}
- name: MPCS_KAFKA_AWS_REGION
  value: {{ $s.kafkaAwsRegion | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.logLevel) }}
- name: MPCS_LOG_LEVEL
  value: {{ $s.logLevel | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.metricsPort) }}
- name: MPCS_METRICS_PORT
  value: {{ $s.metricsPort | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.influxUrl) }}
- name: MPCS_INFLUX_URL
  value: {{ $s.influxUrl | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.influxOrg) }}
- name: MPCS_INFLUX_ORG
  value: {{ $s.influxOrg | toString | quote }}
{{- end }}
{{- with $s.influxToken }}{{- if .name }}
- name: MPCS_INFLUX_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .name | quote }}
      key: {{ .key | quote }}
{{- end }}{{- end }}
{{- if not (kindIs "invalid" $s.influxTokenSecret) }}
- name: MPCS_INFLUX_TOKEN_SECRET
  value: {{ $s.influxTokenSecret | toString | quote }}
{{- end }}
- name: MPCS_IMAGE
  value: {{ (ternary (include "mpcs.image" $) $s.image (kindIs "invalid" $s.image)) | toString | quote }}
- name: MPCS_IMAGE_PULL_POLICY
  value: {{ (ternary ($.Values.image.pullPolicy) $s.imagePullPolicy (kindIs "invalid" $s.imagePullPolicy)) | toString | quote }}
{{- if not (kindIs "invalid" $s.namespaces) }}
- name: MPCS_NAMESPACES
  value: {{ $s.namespaces | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.peering) }}
- name: MPCS_PEERING
  value: {{ $s.peering | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.peeringPriority) }}
- name: MPCS_PEERING_PRIORITY
  value: {{ $s.peeringPriority | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.peeringLifetime) }}
- name: MPCS_PEERING_LIFETIME
  value: {{ $s.peeringLifetime | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.resyncSeconds) }}
- name: MPCS_RESYNC_SECONDS
  value: {{ $s.resyncSeconds | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.statusRefreshSeconds) }}
- name: MPCS_STATUS_REFRESH_SECONDS
  value: {{ $s.statusRefreshSeconds | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.passHorizonHours) }}
- name: MPCS_PASS_HORIZON_HOURS
  value: {{ $s.passHorizonHours | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.grafanaInfluxUrl) }}
- name: MPCS_GRAFANA_INFLUX_URL
  value: {{ $s.grafanaInfluxUrl | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.grafanaSecretsDir) }}
- name: MPCS_GRAFANA_SECRETS_DIR
  value: {{ $s.grafanaSecretsDir | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.grafanaInstanceSelector) }}
- name: MPCS_GRAFANA_INSTANCE_SELECTOR
  value: {{ $s.grafanaInstanceSelector | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.alertsTopicArn) }}
- name: MPCS_ALERTS_TOPIC_ARN
  value: {{ $s.alertsTopicArn | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.alertsTable) }}
- name: MPCS_ALERTS_TABLE
  value: {{ $s.alertsTable | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.alertsRetentionDays) }}
- name: MPCS_ALERTS_RETENTION_DAYS
  value: {{ $s.alertsRetentionDays | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.awsRegion) }}
- name: MPCS_AWS_REGION
  value: {{ $s.awsRegion | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.awsEndpointUrl) }}
- name: MPCS_AWS_ENDPOINT_URL
  value: {{ $s.awsEndpointUrl | toString | quote }}
{{- end }}
{{- with $s.awsAccessKeyId }}{{- if .name }}
- name: MPCS_AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .name | quote }}
      key: {{ .key | quote }}
{{- end }}{{- end }}
{{- with $s.awsSecretAccessKey }}{{- if .name }}
- name: MPCS_AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .name | quote }}
      key: {{ .key | quote }}
{{- end }}{{- end }}
{{- if not (kindIs "invalid" $s.awsCredentialsSecret) }}
- name: MPCS_AWS_CREDENTIALS_SECRET
  value: {{ $s.awsCredentialsSecret | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.archiveBucket) }}
- name: MPCS_ARCHIVE_BUCKET
  value: {{ $s.archiveBucket | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.archiveCreateBucket) }}
- name: MPCS_ARCHIVE_CREATE_BUCKET
  value: {{ $s.archiveCreateBucket | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $s.maxInFlight) }}
- name: MPCS_MAX_IN_FLIGHT
  value: {{ $s.maxInFlight | toString | quote }}
{{- end }}
{{- end }}
