{{/* Names and labels shared by the templates. */}}

{{- define "iterdeck-bot.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "iterdeck-bot.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "iterdeck-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "iterdeck-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "iterdeck-bot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "iterdeck-bot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: iterdeck
{{- end }}

{{- define "iterdeck-bot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "iterdeck-bot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "iterdeck-bot.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* SQLite on a claim unless PostgreSQL is configured. */}}
{{- define "iterdeck-bot.usePVC" -}}
{{- if and (not .Values.store.postgres.existingSecret) .Values.store.persistence.enabled }}true{{ end }}
{{- end }}
