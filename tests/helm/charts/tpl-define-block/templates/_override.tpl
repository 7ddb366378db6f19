{{- /* this redefines the block "tdb.footer" that a template declares; files
       are parsed in order, the later definition of a name wins */ -}}
{{- define "tdb.footer" -}}
footer: overridden-{{ .Values.greeting }}
{{- end -}}

{{- define "tdb.dup" -}}from-override{{- end -}}
