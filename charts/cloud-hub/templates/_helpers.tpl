{{- define "cloud-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cloud-hub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cloud-hub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: edgesync
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "cloud-hub.selectorLabels" . }}
{{- end -}}

{{- define "cloud-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloud-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cloud-hub.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* terminationGracePeriodSeconds = preStop sleep + drain (hub.shutdown_grace_ms) + 5 s margin */}}
{{- define "cloud-hub.terminationGrace" -}}
{{- add .Values.hub.preStopSleepSeconds (div (add .Values.hub.shutdownGraceMs 999) 1000) 5 -}}
{{- end -}}
