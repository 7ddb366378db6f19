{{- define "tdb.dup" -}}from-deep{{- end -}}
{{- define "tdb.deepOnly" -}}deep-{{ .Template.Name }}{{- end -}}
