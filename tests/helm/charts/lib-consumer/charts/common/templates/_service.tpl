{{- define "common.service.tpl" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "common.names.fullname" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - port: {{ .Values.service.port }}
      targetPort: http
  selector:
    app.kubernetes.io/name: {{ .Chart.Name }}
{{- end -}}
{{- define "common.service" -}}
{{- $top := first . -}}
{{- $overrides := fromYaml (include (index . 1) $top) | default (dict) -}}
{{- $base := fromYaml (include "common.service.tpl" $top) -}}
{{- toYaml (mergeOverwrite $base $overrides) -}}
{{- end -}}
{{- define "common.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "common.names.fullname" . }}
data:
  {{- toYaml .Values.configmap.data | nindent 2 }}
{{- end -}}
