{{- /*
One-off Jobs of the service's image, e.g. identity's bulk provisioning runs (`jobs.<job>` in
values). Written like the migration Job (same pod, same security, Helm hook when `hookEvents` is
set), plus the job's own `env`/`secretEnv`, which only that Job's pod gets: a secret a bulk run
needs (identity-bulk's client secret) is never mounted into the serving pods.
Without `hookEvents` the Job is an ordinary object of the release (Jobs are immutable: delete
the finished one, or disable it, before enabling it again with other args).
Context: (dict "cfg" $cfg "ctx" $ "job" "<job>" "spec" {...})
*/ -}}
{{- define "xinyu-lib.job" -}}
{{- $cfg := deepCopy .cfg -}}
{{- $spec := .spec -}}
{{- $_ := set $cfg "env" (merge (deepCopy ($spec.env | default dict)) $cfg.env) -}}
{{- $_ := set $cfg "secretEnv" (merge (deepCopy ($spec.secretEnv | default dict)) $cfg.secretEnv) -}}
{{- $name := printf "%s-%s" $cfg.name .job -}}
{{- $pod := dict "cfg" $cfg "ctx" .ctx "component" (printf "job-%s" .job) "name" $name -}}
{{- $_ := set $pod "args" (required (printf "jobs.%s.args" .job) $spec.args) -}}
{{- $_ := set $pod "server" false -}}
{{- $_ := set $pod "resources" ($spec.resources | default $cfg.resources) -}}
{{- $_ := set $pod "serviceAccount" $cfg.name -}}
{{- $_ := set $pod "restartPolicy" "Never" -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $name }}
  labels:
    {{- include "xinyu-lib.labels" $pod | nindent 4 }}
  {{- with $spec.hookEvents }}
  annotations:
    helm.sh/hook: {{ . }}
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation
    helm.sh/hook-output-log-policy: hook-failed
  {{- end }}
spec:
  backoffLimit: {{ hasKey $spec "backoffLimit" | ternary $spec.backoffLimit 2 }}
  activeDeadlineSeconds: {{ $spec.activeDeadlineSeconds | default 3600 }}
  ttlSecondsAfterFinished: {{ $spec.ttlSecondsAfterFinished | default 86400 }}
  template:
    {{- include "xinyu-lib.pod" $pod | nindent 4 }}
{{- end -}}
