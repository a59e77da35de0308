{{- /*
`<service> migrate` as a Helm hook Job (pre-install,pre-upgrade by default): the schema is
upgraded before pods of the new version start. Its ServiceAccount is a hook too (weight -10),
because hooks run before the release's ordinary objects exist.
*/ -}}
{{- define "xinyu-lib.migration" -}}
{{- $cfg := .cfg -}}
{{- $m := $cfg.migration -}}
{{- $job := dict "cfg" $cfg "ctx" .ctx "component" "migrate" "name" (printf "%s-migrate" $cfg.name) -}}
{{- $_ := set $job "args" $m.args -}}
{{- $_ := set $job "server" false -}}
{{- $_ := set $job "resources" ($m.resources | default $cfg.resources) -}}
{{- $_ := set $job "serviceAccount" (printf "%s-migrate" $cfg.name) -}}
{{- $_ := set $job "restartPolicy" "Never" -}}
{{- $sa := dict "cfg" $cfg "ctx" .ctx "name" (printf "%s-migrate" $cfg.name) -}}
{{- $_ := set $sa "annotations" (dict "helm.sh/hook" $m.hookEvents "helm.sh/hook-weight" "-10" "helm.sh/hook-delete-policy" "before-hook-creation,hook-succeeded") -}}
{{ include "xinyu-lib.serviceAccount" $sa }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $cfg.name }}-migrate
  labels:
    {{- include "xinyu-lib.labels" $job | nindent 4 }}
  annotations:
    helm.sh/hook: {{ $m.hookEvents }}
    helm.sh/hook-weight: "0"
    # Kept after success for its logs (ttlSecondsAfterFinished removes it); replaced next time.
    helm.sh/hook-delete-policy: before-hook-creation
    helm.sh/hook-output-log-policy: hook-failed
spec:
  backoffLimit: {{ $m.backoffLimit }}
  activeDeadlineSeconds: {{ $m.activeDeadlineSeconds }}
  ttlSecondsAfterFinished: {{ $m.ttlSecondsAfterFinished }}
  template:
    {{- include "xinyu-lib.pod" $job | nindent 4 }}
{{- end -}}
