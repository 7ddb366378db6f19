{{- define "inc.level3" -}}
L3({{ .Chart.Name }})
{{- end -}}
{{- define "inc.level2" -}}
L2[{{ include "inc.level3" . }}]
{{- end -}}
{{- define "inc.level1" -}}
L1<{{ include "inc.level2" . }}>
{{- end -}}

{{- define "inc.labels" -}}
{{- range $k, $v := .Values.labels }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{- define "inc.withCtx" -}}
{{ .prefix }}-{{ .root.Release.Name }}-{{ include "inc.level3" .root }}
{{- end -}}

{{- define "inc.countdown" -}}
{{- if gt (int .) 0 -}}
{{ . }},{{ include "inc.countdown" (sub (int .) 1) }}
{{- else -}}
liftoff
{{- end -}}
{{- end -}}

{{- define "inc.asYaml" -}}
replicas: 2
selector:
  app: {{ .Values.labels.app }}
{{- end -}}

{{- define "inc.empty" -}}{{- end -}}

{{- define "inc.list" -}}
- a
- b
{{- end -}}
