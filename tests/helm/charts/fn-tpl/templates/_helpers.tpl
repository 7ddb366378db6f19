{{- define "fntpl.fullname" -}}
{{ .Release.Name }}-{{ .Chart.Name }}
{{- end -}}
