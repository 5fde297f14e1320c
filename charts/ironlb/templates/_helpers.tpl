{{/* Name of the chart, for labels. */}}
{{- define "ironlb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every resource name: the release name when it already holds the
chart name (release "ironlb" gives ironlb-controller, ironlb-speaker, ...).
*/}}
{{- define "ironlb.fullname" -}}
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

{{- define "ironlb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "ironlb.labels" -}}
helm.sh/chart: {{ include "ironlb.chart" . }}
{{ include "ironlb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ironlb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ironlb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Speaker pods also carry MetalLB's app/component labels: --ml-labels selects
them (memberlist discovery), as MetalLB's speakers are found.
*/}}
{{- define "ironlb.speakerPodLabels" -}}
app: metallb
component: speaker
{{- end }}

{{/* The --ml-labels selector: exactly the labels above. */}}
{{- define "ironlb.speakerMLLabels" -}}
app=metallb,component=speaker
{{- end }}

{{- define "ironlb.controllerServiceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (printf "%s-controller" (include "ironlb.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ironlb.speakerServiceAccountName" -}}
{{- if .Values.speaker.serviceAccount.create }}
{{- default (printf "%s-speaker" (include "ironlb.fullname" .)) .Values.speaker.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.speaker.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ironlb.webhookServiceName" -}}
{{- printf "%s-webhook-service" (include "ironlb.fullname" .) }}
{{- end }}

{{- define "ironlb.webhookConfigurationName" -}}
{{- printf "%s-webhook-configuration" (include "ironlb.fullname" .) }}
{{- end }}

{{- define "ironlb.webhookSecretName" -}}
{{- printf "%s-webhook-cert" (include "ironlb.fullname" .) }}
{{- end }}

{{- define "ironlb.memberlistSecretName" -}}
{{- .Values.speaker.memberlist.existingSecret | default .Values.speaker.secretName | default (printf "%s-memberlist" (include "ironlb.fullname" .)) }}
{{- end }}

{{/*
The --tls-* arguments: tls.* (MetalLB 0.16), else the component's own
(MetalLB 0.15's controller.tlsMinVersion and tlsCipherSuites).
Call with (dict "root" $ "min" "..." "ciphers" "...").
*/}}
{{- define "ironlb.tlsArgs" -}}
{{- $t := .root.Values.tls }}
{{- with ($t.minVersion | default .min) }}
- --tls-min-version={{ . }}
{{- end }}
{{- with ($t.cipherSuites | default .ciphers) }}
- --tls-cipher-suites={{ . }}
{{- end }}
{{- with $t.curvePreferences }}
- --tls-curve-preferences={{ . }}
{{- end }}
{{- end }}

{{/*
The health port of a component: MetalLB's livenessProbe.port or
readinessProbe.port when given, else healthProbePort.
*/}}
{{- define "ironlb.healthPort" -}}
{{- $l := .livenessProbe.port | default 0 | int }}
{{- $r := .readinessProbe.port | default 0 | int }}
{{- if and $l $r (ne $l $r) }}
{{- fail (printf "livenessProbe.port %d and readinessProbe.port %d differ: IronLB serves /healthz and /readyz on one port" $l $r) }}
{{- end }}
{{- $l | default $r | default .healthProbePort }}
{{- end }}

{{- define "ironlb.controllerImage" -}}
{{- printf "%s:%s" .Values.controller.image.repository (default .Chart.AppVersion .Values.controller.image.tag) }}
{{- end }}

{{- define "ironlb.speakerImage" -}}
{{- printf "%s:%s" .Values.speaker.image.repository (default .Chart.AppVersion .Values.speaker.image.tag) }}
{{- end }}

{{/* A probe from its values and the health port. */}}
{{- define "ironlb.probe" -}}
httpGet:
  path: {{ .path }}
  port: health
failureThreshold: {{ .p.failureThreshold }}
initialDelaySeconds: {{ .p.initialDelaySeconds }}
periodSeconds: {{ .p.periodSeconds }}
successThreshold: {{ .p.successThreshold }}
timeoutSeconds: {{ .p.timeoutSeconds }}
{{- end }}

{{- define "ironlb.metricsScheme" -}}
{{- if .Values.prometheus.secureMetrics }}https{{ else }}http{{ end }}
{{- end }}
