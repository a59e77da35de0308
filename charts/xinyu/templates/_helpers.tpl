{{- /* Labels of the data-plane objects. part-of is NOT `xinyu`: NetworkPolicies let pods
labelled part-of=xinyu reach the services, and Strimzi copies that label to its pods. */ -}}
{{- define "xinyu.dataPlaneLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: xinyu-data-plane
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- /* Never deleted by `helm uninstall` or by leaving a flag off in an upgrade. */ -}}
{{- define "xinyu.keep" -}}
helm.sh/resource-policy: keep
{{- end -}}
