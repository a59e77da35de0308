{{- /*
The library's entry point. A service chart's only template is:

  {{ include "xinyu-lib.service" . }}
*/ -}}
{{- define "xinyu-lib.service" -}}
{{- $cfg := fromYaml (include "xinyu-lib.config" .) -}}
{{- if hasKey $cfg "Error" -}}
{{- fail (printf "xinyu-lib: could not build the configuration: %s" $cfg.Error) -}}
{{- end -}}
{{- $server := dict "cfg" $cfg "ctx" . "component" "server" "name" $cfg.name -}}
{{- $_ := set $server "args" $cfg.args -}}
{{- $_ := set $server "server" true -}}
{{- $_ := set $server "resources" $cfg.resources -}}
{{- $_ := set $server "serviceAccount" $cfg.name -}}
{{- $_ := set $server "replicas" $cfg.replicas -}}
{{- $_ := set $server "autoscaled" $cfg.autoscaling.enabled -}}
{{ include "xinyu-lib.serviceAccount" (dict "cfg" $cfg "ctx" . "name" $cfg.name) }}
---
{{ include "xinyu-lib.deployment" $server }}
---
{{ include "xinyu-lib.k8sService" $server }}
{{- if and (eq $cfg.kind "grpc") $cfg.service.headless }}
---
{{ include "xinyu-lib.k8sService" (merge (dict "headless" true) $server) }}
{{- end }}
{{- if $cfg.podDisruptionBudget.enabled }}
---
{{ include "xinyu-lib.pdb" $server }}
{{- end }}
{{- if $cfg.autoscaling.enabled }}
---
{{ include "xinyu-lib.hpa" $server }}
{{- end }}
{{- range $consumer := keys $cfg.consumers | sortAlpha }}
{{- $spec := index $cfg.consumers $consumer | default dict }}
{{- if not (regexMatch "^[a-z][a-z0-9]*(-[a-z0-9]+)*$" $consumer) }}
{{- fail (printf "xinyu-lib: consumer name %q is not kebab-case" $consumer) }}
{{- end }}
{{- $c := dict "cfg" $cfg "ctx" $ "component" (printf "consumer-%s" $consumer) "name" (printf "%s-consume-%s" $cfg.name $consumer) }}
{{- $_ := set $c "args" ($spec.args | default (list "consume" $consumer)) }}
{{- $_ := set $c "server" false }}
{{- $_ := set $c "probes" ($spec.probes | default dict) }}
{{- $_ := set $c "resources" ($spec.resources | default $cfg.resources) }}
{{- $_ := set $c "serviceAccount" $cfg.name }}
{{- $_ := set $c "replicas" (hasKey $spec "replicas" | ternary $spec.replicas 1) }}
{{- $_ := set $c "autoscaled" false }}
---
{{ include "xinyu-lib.deployment" $c }}
{{- if $cfg.podDisruptionBudget.enabled }}
---
{{ include "xinyu-lib.pdb" $c }}
{{- end }}
{{- end }}
{{- if $cfg.networkPolicy.enabled }}
---
{{ include "xinyu-lib.networkPolicies" $server }}
{{- end }}
{{- if $cfg.migration.enabled }}
---
{{ include "xinyu-lib.migration" $server }}
{{- end }}
{{- range $job := keys $cfg.jobs | sortAlpha }}
{{- $spec := index $cfg.jobs $job | default dict }}
{{- if not (regexMatch "^[a-z][a-z0-9]*(-[a-z0-9]+)*$" $job) }}
{{- fail (printf "xinyu-lib: job name %q is not kebab-case" $job) }}
{{- end }}
{{- if (hasKey $spec "enabled" | ternary $spec.enabled true) }}
---
{{ include "xinyu-lib.job" (dict "cfg" $cfg "ctx" $ "job" $job "spec" $spec) }}
{{- end }}
{{- end }}
{{- if and $cfg.ingress.enabled (eq $cfg.kind "http") }}
---
{{ include "xinyu-lib.ingress" $server }}
{{- end }}
{{- end -}}

{{- define "xinyu-lib.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .name }}
  labels:
    {{- include "xinyu-lib.commonLabels" . | nindent 4 }}
  {{- with .annotations | default .cfg.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}

{{- define "xinyu-lib.k8sService" -}}
{{- $cfg := .cfg -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ $cfg.name }}{{ if .headless }}-headless{{ end }}
  labels:
    {{- include "xinyu-lib.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  {{- if .headless }}
  clusterIP: None
  publishNotReadyAddresses: false
  {{- end }}
  selector:
    {{- include "xinyu-lib.selectorLabels" . | nindent 4 }}
  ports:
    - name: {{ $cfg.kind }}
      port: {{ $cfg.port }}
      targetPort: {{ $cfg.kind }}
      protocol: TCP
      appProtocol: {{ ternary "kubernetes.io/h2c" "http" (eq $cfg.kind "grpc") }}
{{- end -}}

{{- define "xinyu-lib.hpa" -}}
{{- $a := .cfg.autoscaling -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .name }}
  labels:
    {{- include "xinyu-lib.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .name }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
{{- end -}}

{{- define "xinyu-lib.ingress" -}}
{{- $i := .cfg.ingress -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .name }}
  labels:
    {{- include "xinyu-lib.labels" . | nindent 4 }}
  {{- with $i.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $i.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- if $i.tlsSecret }}
  tls:
    - hosts: [{{ required "ingress.host" $i.host | quote }}]
      secretName: {{ $i.tlsSecret }}
  {{- end }}
  rules:
    - host: {{ required "ingress.host is required when ingress.enabled" $i.host | quote }}
      http:
        paths:
          - path: {{ $i.path }}
            pathType: Prefix
            backend:
              service:
                name: {{ .cfg.name }}
                port:
                  name: http
{{- end -}}
