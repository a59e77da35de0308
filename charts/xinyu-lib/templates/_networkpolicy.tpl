{{- /*
Deny by default: one policy selects every pod of the service (server, consumers, migration)
with no rules; the others open exactly what is needed. Policies are additive.
*/ -}}
{{- define "xinyu-lib.networkPolicies" -}}
{{- $cfg := .cfg -}}
{{- $np := $cfg.networkPolicy -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $cfg.name }}-default-deny
  labels:
    {{- include "xinyu-lib.commonLabels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {{ $cfg.name }}
      app.kubernetes.io/part-of: xinyu
  policyTypes:
    - Ingress
    {{- if $np.restrictEgress }}
    - Egress
    {{- end }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $cfg.name }}-ingress
  labels:
    {{- include "xinyu-lib.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "xinyu-lib.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress]
  ingress:
    {{- if eq $cfg.kind "http" }}
    # The ingress controller only.
    - from:
        - namespaceSelector:
            {{- toYaml $np.ingressController.namespaceSelector | nindent 12 }}
          podSelector:
            {{- toYaml $np.ingressController.podSelector | nindent 12 }}
      ports:
        - port: {{ $cfg.port }}
          protocol: TCP
    {{- else }}
    # The gateway and the other services of the platform (same namespace).
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/part-of: xinyu
      ports:
        - port: {{ $cfg.port }}
          protocol: TCP
    {{- end }}
    {{- with $np.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- if $np.restrictEgress }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $cfg.name }}-egress
  labels:
    {{- include "xinyu-lib.commonLabels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {{ $cfg.name }}
      app.kubernetes.io/part-of: xinyu
  policyTypes: [Egress]
  egress:
    # DNS
    - to:
        - namespaceSelector:
            {{- toYaml $np.dns.namespaceSelector | nindent 12 }}
          podSelector:
            {{- toYaml $np.dns.podSelector | nindent 12 }}
      ports:
        - {port: 53, protocol: UDP}
        - {port: 53, protocol: TCP}
    # The other services of the platform (same namespace).
    - to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/part-of: xinyu
    {{- with $np.egress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end -}}
