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

{{/* Rules in the watched namespaces: the same whether bound cluster-wide or per
namespace. Every verb is one the code uses (README: "Permissions"); writes are
further confined by the ValidatingAdmissionPolicy (templates/scope-policy.yaml).
The first rule is shakedown's own API: a new kind goes there. */}}
{{- define "shakedown.rules" -}}
- apiGroups: [shakedown.dev]
  resources: [containerimagerefreshes, infrarollouts]
  verbs: [get, list, watch, patch]
- apiGroups: [shakedown.dev]
  resources: [containerimagerefreshes/status, infrarollouts/status]
  verbs: [patch]
- apiGroups: [shakedown.dev]
  resources: [metrictemplates]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, list, watch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, create, update, patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, create, update, patch, delete]
- apiGroups: [""]
  resources: [resourcequotas, limitranges]
  verbs: [list]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, watch, create, delete]
{{- end -}}

{{/* What the operator does inside the shadow namespaces it creates (InfraRollout):
copies of the targets, HTTP probe pods, smoke-test Jobs (listed and watched:
a waiting Job check hears from one shared watch that its Job finished,
adapters/jobwatch.py; bound cluster-wide in namespaced mode, that reads no
more than the pods rule already does), the isolating NetworkPolicy, the
ResourceQuota and LimitRange. Nothing of shakedown's own
resources and no rollout locks, which live only in watched namespaces; nothing
is deleted there (the namespace goes as a whole). */}}
{{- define "shakedown.shadowRules" -}}
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, create, update, patch]
- apiGroups: [""]
  resources: [services, configmaps, secrets]
  verbs: [get, list, create, update, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create]
- apiGroups: [""]
  resources: [events]
  verbs: [list, watch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, create, update, patch]
- apiGroups: [""]
  resources: [resourcequotas, limitranges]
  verbs: [get, list, create, update, patch]
{{- end -}}

{{/* The Kubernetes user name of the operator's ServiceAccount (the scope policy matches it). */}}
{{- define "shakedown.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "shakedown.serviceAccountName" .) -}}
{{- end -}}

{{/* The leader election Lease (in the release namespace). */}}
{{- define "shakedown.leaseName" -}}
{{- $le := .Values.leaderElection | default dict -}}
{{- $le.leaseName | default (printf "%s-leader" (include "shakedown.fullname" .) | trunc 63 | trimSuffix "-") -}}
{{- end -}}

{{/* Leader election is on unless turned off (also with values from a chart before it existed). */}}
{{- define "shakedown.leaderElection" -}}
{{- $le := .Values.leaderElection | default (dict "enabled" true) -}}
{{- if (hasKey $le "enabled" | ternary $le.enabled true) }}true{{ end -}}
{{- end -}}
