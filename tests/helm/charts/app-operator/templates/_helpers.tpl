{{- define "operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- define "operator.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}
{{- define "operator.args" -}}
{{- $args := list -}}
{{- if .Values.leaderElection -}}
{{- $args = append $args "--leader-elect" -}}
{{- end -}}
{{- with .Values.watchNamespaces -}}
{{- $args = append $args (printf "--namespaces=%s" (join "," .)) -}}
{{- end -}}
{{- range $k, $v := .Values.extraArgs -}}
{{- if kindIs "bool" $v -}}
{{- if $v }}{{ $args = append $args (printf "--%s" $k) }}{{ end -}}
{{- else -}}
{{- $args = append $args (printf "--%s=%v" $k $v) -}}
{{- end -}}
{{- end -}}
{{- toYaml $args -}}
{{- end -}}
