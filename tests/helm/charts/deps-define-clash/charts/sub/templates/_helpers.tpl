{{- define "shared.name" -}}sub-definition({{ .Chart.Name }},{{ .Values.who }}){{- end -}}
{{- define "sub.only" -}}sub-only({{ .Chart.Name }}){{- end -}}
