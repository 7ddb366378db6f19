{{- define "tdb.greeting" -}}
{{ .Values.greeting }}, {{ .Values.who.name }}
{{- end -}}

{{- define "tdb.person" -}}
{{ .title }} {{ .name }}
{{- end -}}

{{/* a define with no trimming keeps its newlines */}}
{{ define "tdb.loose" }}
  loose: true
{{ end }}

{{- define "tdb.noArgs" -}}
dot is {{ printf "%v" . }}
{{- end -}}

{{- /* "tdb.dup" is defined three times; Helm parses deeper paths first and,
       at one depth, names in reverse order, so the definition here wins */ -}}
{{- define "tdb.dup" -}}from-defs{{- end -}}
