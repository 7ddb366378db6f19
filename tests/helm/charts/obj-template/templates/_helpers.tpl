{{- define "objtpl.where" -}}
name={{ .Template.Name }} base={{ .Template.BasePath }}
{{- end -}}
