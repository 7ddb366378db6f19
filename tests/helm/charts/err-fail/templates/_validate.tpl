{{- define "errfail.validate" -}}
{{- if and .Values.tls.certManager .Values.tls.secretName -}}
{{- fail (printf "tls.certManager and tls.secretName (%s) are mutually exclusive" .Values.tls.secretName) -}}
{{- end -}}
{{- end -}}
