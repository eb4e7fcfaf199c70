{{/* Chart name, truncated to the 63 characters Kubernetes allows in names and labels. */}}
{{- define "callmap.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix: <release>-callmap, or the release name when it already says callmap. */}}
{{- define "callmap.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's resources: (dict "root" $ "component" "mapper"). */}}
{{- define "callmap.componentName" -}}
{{- printf "%s-%s" (include "callmap.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "callmap.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every resource of a component: (dict "root" $ "component" "mapper"). */}}
{{- define "callmap.labels" -}}
helm.sh/chart: {{ include "callmap.chart" .root }}
{{ include "callmap.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: callmap
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component: (dict "root" $ "component" "mapper"). */}}
{{- define "callmap.selectorLabels" -}}
app.kubernetes.io/name: {{ include "callmap.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "callmap.image" -}}
{{- printf "%s:%s" (required "image.repository is required: the registry path of the image built from the Dockerfile" .Values.image.repository) (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* In-cluster URL of the mapper, passed to every reporting component as --mapper-url. */}}
{{- define "callmap.mapperUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "callmap.componentName" (dict "root" . "component" "mapper")) .Release.Namespace (int .Values.mapper.port) -}}
{{- end -}}

{{/* Pod-level securityContext of every non-root component. */}}
{{- define "callmap.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container securityContext of every non-root component: nothing to escalate, nothing to write. */}}
{{- define "callmap.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end -}}

{{/* Kafka broker pods grouped by namespace: {"ns": ["pod", ...]} as YAML (fromYaml to use it). */}}
{{- define "callmap.kafkaServersByNamespace" -}}
{{- $byNs := dict -}}
{{- range .Values.kafka.servers -}}
{{- $parts := splitList "." . -}}
{{- if ne (len $parts) 2 -}}
{{- fail (printf "kafka.servers: %q must be pod.namespace, e.g. kafka-0.kafka" .) -}}
{{- end -}}
{{- $pod := index $parts 0 -}}
{{- $ns := index $parts 1 -}}
{{- $_ := set $byNs $ns (append (get $byNs $ns | default list) $pod | uniq) -}}
{{- end -}}
{{- toYaml $byNs -}}
{{- end -}}
