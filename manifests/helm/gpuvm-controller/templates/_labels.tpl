{{/* Metadata labels of every object: the kustomize base's (name, part-of) plus Helm's standard ones. Selectors
and pod labels stay the base's, so switching between the two installs never changes an immutable selector. */}}
{{- define "gpuvm-controller.labels" -}}
app.kubernetes.io/name: gpuvm-controller
app.kubernetes.io/part-of: gpuvm-controller
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
