{{- define "shared.name" -}}parent-definition({{ .Chart.Name }},{{ .Values.who }}){{- end -}}
{{- define "parent.only" -}}parent-only{{- end -}}
