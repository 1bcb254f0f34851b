{{- define "shakedown.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "shakedown.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "shakedown.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "shakedown.serviceAccountName" -}}
{{- default (include "shakedown.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The namespaced rules: the same whether bound cluster-wide or per namespace. */}}
{{- define "shakedown.rules" -}}
- apiGroups: [shakedown.dev]
  resources: [containerimagerefreshes, infrarollouts]
  verbs: [get, list, watch, patch, update]
- apiGroups: [shakedown.dev]
  resources: [containerimagerefreshes/status, infrarollouts/status]
  verbs: [get, patch, update]
# MetricTemplates are only read (metric checks reference them by name).
- apiGroups: [shakedown.dev]
  resources: [metrictemplates]
  verbs: [get, list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch, list, watch]  # list/watch: a shadow pod's probe failures
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]  # InfraRollout HTTP checks run a probe pod
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [services, configmaps, secrets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, list, create]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, create, update, patch, delete]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, watch, create, update, patch, delete]
{{- end -}}

{{/* What the operator does inside the shadow namespaces it creates (InfraRollout):
copies of the targets, their pods, the default-deny NetworkPolicy, HTTP probe
pods and smoke-test Jobs. The namespaced rules without its own resources and the
rollout locks, which live only in watched namespaces. */}}
{{- define "shakedown.shadowRules" -}}
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch, list, watch]  # list/watch: a shadow pod's probe failures
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [services, configmaps, secrets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, list, create]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, create, update, patch, delete]
{{- end -}}
