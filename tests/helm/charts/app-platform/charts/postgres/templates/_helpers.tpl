{{- define "postgres.fullname" -}}
{{ .Release.Name }}-postgres
{{- end -}}
