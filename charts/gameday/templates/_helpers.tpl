{{/*
The release's name for its objects: the release name, with "-gameday" appended unless it
already contains "gameday"; at most 46 characters, so that "<fullname>-operator-target" fits a
63-character name.
*/}}
{{- define "gameday.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 46 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 46 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The operator's ServiceAccount, ClusterRole, bindings and Deployment. */}}
{{- define "gameday.operator" -}}
{{- printf "%s-operator" (include "gameday.fullname" .) -}}
{{- end -}}

{{- define "gameday.statusKeySecret" -}}
{{- .Values.statusKey.existingSecret | default (printf "%s-status-key" (include "gameday.fullname" .)) -}}
{{- end -}}

{{/* Labels every object of the release carries: uninstall and the tests find them by these. */}}
{{- define "gameday.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "gameday.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* "" or null: leave the operator's default. */}}
{{- define "gameday.set" -}}
{{- if not (kindIs "invalid" .) -}}{{- if ne (toString .) "" -}}true{{- end -}}{{- end -}}
{{- end -}}
