{{- define "helperlib.stamp" -}}
stamped-by-helperlib for {{ .Chart.Name }}
{{- end -}}
