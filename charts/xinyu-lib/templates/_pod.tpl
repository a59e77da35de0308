{{- /*
xinyu-lib.pod: a pod template spec.
Context: (dict "cfg" $cfg "ctx" $ "component" "server" "args" (list ...) "server" true|false
               "resources" {...} "serviceAccount" "name" "restartPolicy" "Always"|"Never")
*/ -}}
{{- define "xinyu-lib.pod" -}}
{{- $cfg := .cfg -}}
metadata:
  labels:
    {{- include "xinyu-lib.commonLabels" . | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    {{- with $cfg.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $cfg.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ .serviceAccount }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with .restartPolicy }}
  restartPolicy: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $cfg.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $cfg.podSecurityContext | nindent 4 }}
  {{- with $cfg.imagePullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
    {{- end }}
  {{- end }}
  containers:
    - name: {{ $cfg.name }}
      image: {{ include "xinyu-lib.image" $cfg | quote }}
      imagePullPolicy: {{ $cfg.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      {{- if .server }}
      ports:
        - name: {{ $cfg.kind }}
          containerPort: {{ $cfg.port }}
          protocol: TCP
      {{- $probes := $cfg.probes }}
      {{- range $probe := list "startup" "liveness" "readiness" }}
      {{ $probe }}Probe:
        {{- if eq $cfg.kind "grpc" }}
        grpc:
          port: {{ $cfg.port }}
        {{- else }}
        httpGet:
          path: {{ ternary $probes.http.readinessPath $probes.http.livenessPath (eq $probe "readiness") }}
          port: http
        {{- end }}
        {{- toYaml (index $probes $probe) | nindent 8 }}
      {{- end }}
      {{- else if .probes }}
      {{- toYaml .probes | nindent 6 }}
      {{- end }}
      env:
        {{- include "xinyu-lib.env" . | nindent 8 }}
      {{- with $cfg.envFromSecrets }}
      envFrom:
        {{- range . }}
        - secretRef:
            name: {{ . }}
        {{- end }}
      {{- end }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        {{- toYaml $cfg.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if and $cfg.kafka.enabled $cfg.kafka.caSecret.name }}
        - name: kafka-ca
          mountPath: /etc/xinyu/kafka-ca
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $cfg.tmpSizeLimit }}
    {{- if and $cfg.kafka.enabled $cfg.kafka.caSecret.name }}
    - name: kafka-ca
      secret:
        secretName: {{ $cfg.kafka.caSecret.name | quote }}
        items:
          - {key: {{ $cfg.kafka.caSecret.key | quote }}, path: {{ $cfg.kafka.caSecret.key | quote }}}
    {{- end }}
  {{- with $cfg.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $cfg.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $cfg.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if and $cfg.topologySpread.enabled (ne .component "migrate") (not (hasPrefix "job-" .component)) }}
  topologySpreadConstraints:
    - maxSkew: {{ $cfg.topologySpread.maxSkew }}
      topologyKey: {{ $cfg.topologySpread.topologyKey }}
      whenUnsatisfiable: {{ $cfg.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "xinyu-lib.selectorLabels" . | nindent 10 }}
  {{- end }}
{{- end -}}

{{- /* xinyu-lib.deployment. Context as xinyu-lib.pod plus "replicas" and "name". */ -}}
{{- define "xinyu-lib.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  labels:
    {{- include "xinyu-lib.labels" . | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "xinyu-lib.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    {{- include "xinyu-lib.pod" . | nindent 4 }}
{{- end -}}

{{- define "xinyu-lib.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  labels:
    {{- include "xinyu-lib.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .cfg.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "xinyu-lib.selectorLabels" . | nindent 6 }}
{{- end -}}
