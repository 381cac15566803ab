{{- define "edge-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edge-agent.fullname" -}}
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

{{- define "edge-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: edgesync
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "edge-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edge-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "edge-agent.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* nodeAffinity selecting edge nodes: KubeEdge role label OR edgesync label. */}}
{{- define "edge-agent.affinity" -}}
{{- if not (or .Values.edgeNodes.kubeEdgeRoleLabel .Values.edgeNodes.labelKey) -}}
{{- fail "edgeNodes: set kubeEdgeRoleLabel and/or labelKey" -}}
{{- end -}}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      {{- with .Values.edgeNodes.kubeEdgeRoleLabel }}
      - matchExpressions:
          - {key: {{ . }}, operator: Exists}
      {{- end }}
      {{- with .Values.edgeNodes.labelKey }}
      - matchExpressions:
          - {key: {{ . }}, operator: In, values: [{{ $.Values.edgeNodes.labelValue | quote }}]}
      {{- end }}
{{- end -}}
