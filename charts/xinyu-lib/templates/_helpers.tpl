{{- /*
xinyu-lib.fill: fills (index . 0) with the keys of (index . 1) it lacks, recursively into maps.
*/ -}}
{{- define "xinyu-lib.fill" -}}
{{- $dst := index . 0 -}}
{{- $src := index . 1 -}}
{{- range $key, $value := $src -}}
{{- if not (hasKey $dst $key) -}}
{{- if or (kindIs "map" $value) (kindIs "slice" $value) -}}
{{- $_ := set $dst $key (deepCopy $value) -}}
{{- else -}}
{{- $_ := set $dst $key $value -}}
{{- end -}}
{{- else if and (kindIs "map" $value) (kindIs "map" (index $dst $key)) -}}
{{- include "xinyu-lib.fill" (list (index $dst $key) $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /*
xinyu-lib.config: the service's complete configuration as YAML (callers use fromYaml).
*/ -}}
{{- define "xinyu-lib.config" -}}
{{- $cfg := omit (deepCopy .Values) "global" -}}
{{- $global := dig "xinyu" dict (.Values.global | default dict) -}}
{{- include "xinyu-lib.fill" (list $cfg (deepCopy $global)) -}}
{{- include "xinyu-lib.fill" (list $cfg (fromYaml (include "xinyu-lib.defaults" .))) -}}
{{- if not $cfg.name -}}
{{- $_ := set $cfg "name" .Chart.Name -}}
{{- end -}}
{{- if ne $cfg.name .Chart.Name -}}
{{- fail (printf "xinyu-lib: name %q must equal the chart's name %q (one name everywhere)" $cfg.name .Chart.Name) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z][a-z0-9]*(-[a-z0-9]+)*$" $cfg.name) -}}
{{- fail (printf "xinyu-lib: %q is not a kebab-case service name" $cfg.name) -}}
{{- end -}}
{{- if not (has $cfg.kind (list "grpc" "http")) -}}
{{- fail (printf "xinyu-lib: %s: kind must be grpc or http, not %q" $cfg.name $cfg.kind) -}}
{{- end -}}
{{- if not (gt (int $cfg.port) 0) -}}
{{- fail (printf "xinyu-lib: %s: set port" $cfg.name) -}}
{{- end -}}
{{- if not $cfg.envPrefix -}}
{{- $_ := set $cfg "envPrefix" (printf "%s_" (upper (replace "-" "_" $cfg.name))) -}}
{{- end -}}
{{- if not $cfg.image.repository -}}
{{- $_ := set $cfg.image "repository" $cfg.name -}}
{{- end -}}
{{- if not $cfg.image.tag -}}
{{- $_ := set $cfg.image "tag" (.Chart.AppVersion | default .Chart.Version) -}}
{{- end -}}
{{- if not $cfg.kafka.passwordSecret.name -}}
{{- $_ := set $cfg.kafka.passwordSecret "name" $cfg.name -}}
{{- end -}}
{{- if not $cfg.database.passwordSecret.name -}}
{{- $_ := set $cfg.database.passwordSecret "name" (printf "%s-database" $cfg.name) -}}
{{- end -}}
{{- if not $cfg.keycloak.clientSecret.name -}}
{{- $_ := set $cfg.keycloak.clientSecret "name" (printf "%s-keycloak" $cfg.name) -}}
{{- end -}}
{{- if and $cfg.kafka.enabled (not $cfg.kafka.bootstrapServers) -}}
{{- fail (printf "xinyu-lib: %s: kafka.bootstrapServers (or global.xinyu.kafka.bootstrapServers) is required" $cfg.name) -}}
{{- end -}}
{{- if and $cfg.database.enabled (not $cfg.database.urlSecret.name) (not $cfg.database.host) -}}
{{- fail (printf "xinyu-lib: %s: database.host (or global.xinyu.database.host) is required" $cfg.name) -}}
{{- end -}}
{{- if and $cfg.migration.enabled (not $cfg.database.enabled) -}}
{{- fail (printf "xinyu-lib: %s: migration.enabled needs database.enabled" $cfg.name) -}}
{{- end -}}
{{- if not $cfg.keycloak.issuer -}}
{{- fail (printf "xinyu-lib: %s: keycloak.issuer (or global.xinyu.keycloak.issuer) is required" $cfg.name) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{- /* Labels. Context: (dict "cfg" $cfg "ctx" $ "component" "server") */ -}}
{{- define "xinyu-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ .cfg.name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: xinyu
{{- end -}}

{{- define "xinyu-lib.labels" -}}
{{ include "xinyu-lib.selectorLabels" . }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/version: {{ .cfg.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- /* Labels shared by every object of the service, whatever its component. */ -}}
{{- define "xinyu-lib.commonLabels" -}}
app.kubernetes.io/name: {{ .cfg.name }}
app.kubernetes.io/part-of: xinyu
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/version: {{ .cfg.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "xinyu-lib.image" -}}
{{- $image := .image -}}
{{- $repo := $image.repository -}}
{{- if $image.registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" $image.registry) $image.repository -}}
{{- end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repo $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (toString $image.tag) -}}
{{- end -}}
{{- end -}}

{{- /* Environment of every container of the service. Order matters: $(VAR) refers upwards. */ -}}
{{- define "xinyu-lib.env" -}}
{{- $cfg := .cfg -}}
{{- $p := $cfg.envPrefix -}}
- name: K8S_POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: K8S_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: XINYU_ENVIRONMENT
  value: {{ $cfg.environment | quote }}
- name: PYTHONUNBUFFERED
  value: "1"
- name: OTEL_SERVICE_NAME
  value: {{ $cfg.name | quote }}
{{- $attrs := list "service.namespace=xinyu" (printf "service.version=%s" $cfg.image.tag) (printf "deployment.environment.name=%s" $cfg.environment) "k8s.namespace.name=$(K8S_NAMESPACE)" "k8s.pod.name=$(K8S_POD_NAME)" }}
{{- range $k, $v := $cfg.otel.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k (toString $v)) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- if $cfg.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $cfg.otel.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $cfg.otel.protocol | quote }}
{{- end }}
- name: {{ $p }}LOG_LEVEL
  value: {{ $cfg.logLevel | quote }}
{{- if eq $cfg.kind "grpc" }}
- name: {{ $p }}GRPC_LISTEN
  value: {{ printf "0.0.0.0:%d" (int $cfg.port) | quote }}
{{- else }}
- name: {{ $p }}HOST
  value: "0.0.0.0"
- name: {{ $p }}PORT
  value: {{ $cfg.port | int | toString | quote }}
{{- end }}
{{- if $cfg.kafka.enabled }}
- name: {{ $p }}KAFKA__BOOTSTRAP_SERVERS
  value: {{ $cfg.kafka.bootstrapServers | quote }}
- name: {{ $p }}KAFKA__SECURITY_PROTOCOL
  value: {{ $cfg.kafka.securityProtocol | quote }}
- name: {{ $p }}KAFKA__SASL_MECHANISM
  value: {{ $cfg.kafka.saslMechanism | quote }}
- name: {{ $p }}KAFKA__USERNAME
  value: {{ $cfg.name | quote }}
- name: {{ $p }}KAFKA__PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $cfg.kafka.passwordSecret.name | quote }}, key: {{ $cfg.kafka.passwordSecret.key | quote }}}
{{- if $cfg.kafka.caSecret.name }}
- name: {{ $p }}KAFKA__SSL_CA_LOCATION
  value: {{ printf "/etc/xinyu/kafka-ca/%s" $cfg.kafka.caSecret.key | quote }}
{{- end }}
{{- end }}
{{- if $cfg.database.enabled }}
{{- if $cfg.database.urlSecret.name }}
- name: {{ $p }}DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ $cfg.database.urlSecret.name | quote }}, key: {{ $cfg.database.urlSecret.key | quote }}}
{{- else }}
- name: XINYU_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $cfg.database.passwordSecret.name | quote }}, key: {{ $cfg.database.passwordSecret.key | quote }}}
{{- $query := ternary (printf "?%s" $cfg.database.params) "" (ne (toString $cfg.database.params) "") }}
- name: {{ $p }}DATABASE_URL
  value: {{ printf "postgresql+psycopg://%s:$(XINYU_DATABASE_PASSWORD)@%s:%d/%s%s" $cfg.name $cfg.database.host (int $cfg.database.port) $cfg.name $query | quote }}
{{- end }}
{{- end }}
- name: {{ $p }}KEYCLOAK__ISSUER
  value: {{ $cfg.keycloak.issuer | quote }}
{{- if $cfg.keycloak.jwksUrl }}
- name: {{ $p }}KEYCLOAK__JWKS_URL
  value: {{ $cfg.keycloak.jwksUrl | quote }}
{{- end }}
{{- if $cfg.keycloak.audience }}
- name: {{ $p }}KEYCLOAK__AUDIENCE
  value: {{ $cfg.keycloak.audience | quote }}
{{- end }}
{{- if $cfg.keycloak.clientSecret.enabled }}
- name: {{ $p }}KEYCLOAK__CLIENT_ID
  value: {{ $cfg.name | quote }}
- name: {{ $p }}KEYCLOAK__CLIENT_SECRET
  valueFrom:
    secretKeyRef: {name: {{ $cfg.keycloak.clientSecret.name | quote }}, key: {{ $cfg.keycloak.clientSecret.key | quote }}}
{{- end }}
{{- range $name := keys $cfg.env | sortAlpha }}
- name: {{ $name }}
  value: {{ index $cfg.env $name | toString | quote }}
{{- end }}
{{- range $name := keys $cfg.secretEnv | sortAlpha }}
{{- $ref := index $cfg.secretEnv $name }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef: {name: {{ required (printf "secretEnv.%s.secret" $name) $ref.secret | quote }}, key: {{ required (printf "secretEnv.%s.key" $name) $ref.key | quote }}}
{{- end }}
{{- end -}}
