{{- /*
Defaults for every service. Precedence: the service chart's values (and whatever the installer
passes for that chart) > .Values.global.xinyu (platform-wide settings from the umbrella) > these.
Keys are filled in only where missing, so `false`, 0 and "" given by a service are kept (sprig's
merge would overwrite them).
*/ -}}
{{- define "xinyu-lib.defaults" -}}
# The service's one name: chart, image, labels, OTEL_SERVICE_NAME, Kafka principal and consumer
# group, database and its owner. Defaults to the chart's name and must equal it.
name: ""
# grpc: gRPC on `port` with grpc.health.v1 probes; http: HTTP on `port` with /livez and /readyz.
kind: grpc
port: 0
# Settings prefix of the service (pydantic-settings); default NAME_ in upper snake case.
envPrefix: ""
# Arguments to the image's ENTRYPOINT (the service's console script).
args: [serve]
# XINYU_ENVIRONMENT: production and staging refuse placeholder secrets.
environment: production
logLevel: INFO
replicas: 2
image:
  registry: ""
  # Defaults to the service's name.
  repository: ""
  # Defaults to the chart's appVersion.
  tag: ""
  # sha256:... wins over the tag when set.
  digest: ""
  pullPolicy: IfNotPresent
imagePullSecrets: []
resources:
  requests: {cpu: 100m, memory: 192Mi}
  limits: {memory: 512Mi}
# Plain, non-secret environment: NAME: value.
env: {}
# NAME: {secret: <Secret name>, key: <key>}. Secret values never go in values files.
secretEnv: {}
# Whole Secrets whose keys are environment variable names.
envFromSecrets: []
otel:
  # OTEL_EXPORTER_OTLP_ENDPOINT; empty: no exporter (the SDK's `none`).
  endpoint: ""
  protocol: http/protobuf
  # Extra OTEL_RESOURCE_ATTRIBUTES (key: value).
  resourceAttributes: {}
kafka:
  enabled: false
  bootstrapServers: ""
  securityProtocol: SASL_PLAINTEXT
  saslMechanism: SCRAM-SHA-512
  # The SCRAM password. Default Secret: the one Strimzi's User Operator writes for the
  # KafkaUser named after the service.
  passwordSecret: {name: "", key: password}
  # The CA that signed the brokers' certificates, for SASL_SSL: Strimzi writes it to the
  # Secret <kafka cluster>-cluster-ca-cert. Empty: no CA is mounted (plaintext, or the system
  # trust store).
  caSecret: {name: "", key: ca.crt}
database:
  enabled: false
  host: ""
  port: 5432
  # Query string of the URL.
  params: sslmode=require
  # Default Secret <name>-database (kubernetes.io/basic-auth, the one CloudNativePG's
  # DatabaseRole reads too). The URL is composed in the pod, so the password must be URL-safe.
  passwordSecret: {name: "", key: password}
  # Or a complete SQLAlchemy URL from a Secret (wins when name is set).
  urlSecret: {name: "", key: url}
keycloak:
  issuer: ""
  jwksUrl: ""
  audience: ""
  # The service's own confidential client (client credentials). Default Secret
  # <name>-keycloak; the KeycloakRealmImport reads the same Secret.
  clientSecret: {enabled: false, name: "", key: client-secret}
probes:
  http: {livenessPath: /livez, readinessPath: /readyz}
  startup: {periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 24}
  liveness: {periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3}
  readiness: {periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2}
service:
  # gRPC only: also a headless Service <name>-headless for client-side round_robin.
  headless: true
podDisruptionBudget: {enabled: true, maxUnavailable: 1}
autoscaling:
  enabled: false
  minReplicas: 2
  maxReplicas: 6
  targetCPUUtilizationPercentage: 75
serviceAccount: {annotations: {}}
podAnnotations: {}
podLabels: {}
terminationGracePeriodSeconds: 30
tmpSizeLimit: 64Mi
nodeSelector: {}
tolerations: []
affinity: {}
topologySpread: {enabled: true, maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}
podSecurityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile: {type: RuntimeDefault}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  privileged: false
  capabilities: {drop: [ALL]}
networkPolicy:
  enabled: true
  # kind http only: who may reach the port (one peer: namespace AND pod selector).
  ingressController:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}
    podSelector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  extraIngress: []
  # Deny egress too, except DNS, the platform's own pods and the rules below.
  restrictEgress: true
  dns:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
    podSelector: {matchLabels: {k8s-app: kube-dns}}
  # NetworkPolicyEgressRules for the data plane (Kafka, PostgreSQL, Keycloak, OTLP); the
  # umbrella sets them in global.xinyu.networkPolicy.egress.
  egress: []
  extraEgress: []
migration:
  enabled: false
  args: [migrate]
  # Runs before the new pods. The database must exist before the release is installed.
  hookEvents: pre-install,pre-upgrade
  backoffLimit: 3
  activeDeadlineSeconds: 600
  ttlSecondsAfterFinished: 86400
  # Empty: the service's resources.
  resources: {}
# One-off Jobs of the same image (templates/_jobs.tpl): <job>: {enabled (default true), args,
# hookEvents (e.g. post-install,post-upgrade; empty: an ordinary Job), env, secretEnv (this Job's
# pod only), resources, backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished}.
jobs: {}
# Extra Deployments of the same image: <consumer>: {args: [...], replicas, resources, probes}.
consumers: {}
ingress:
  enabled: false
  className: nginx
  host: ""
  path: /
  tlsSecret: ""
  annotations: {}
{{- end -}}
