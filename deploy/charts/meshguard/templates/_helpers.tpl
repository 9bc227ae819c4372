{{/* Chart name, overridable. */}}
{{- define "meshguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: <release>-meshguard, or the release name when it already says meshguard. */}}
{{- define "meshguard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "meshguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "meshguard.labels" -}}
helm.sh/chart: {{ include "meshguard.chart" . }}
{{ include "meshguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: meshguard
{{- end }}

{{- define "meshguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meshguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Secret of the self mode; the chart creates it empty so meshguard never needs the create verb. */}}
{{- define "meshguard.selfSecret" -}}
{{- printf "%s-tls" (include "meshguard.fullname" .) }}
{{- end }}

{{/* Lease of the leader election: one replica runs the background audit. */}}
{{- define "meshguard.leaseName" -}}
{{- printf "%s-audit" (include "meshguard.fullname" .) }}
{{- end }}

{{/* Non-empty when the background audit runs (audit.interval is not zero). */}}
{{- define "meshguard.auditEnabled" -}}
{{- if not (regexMatch "^0+([.]0+)?(ns|us|µs|ms|s|m|h)?$" (toString .Values.audit.interval)) }}true{{ end }}
{{- end }}

{{/* Secret mounted as the certificate directory in the cert-manager and provided modes. */}}
{{- define "meshguard.servingSecret" -}}
{{- if eq .Values.certificates.mode "provided" }}
{{- required "certificates.provided.secretName is required with certificates.mode=provided: name the kubernetes.io/tls Secret (tls.crt, tls.key) in the release namespace" .Values.certificates.provided.secretName }}
{{- else }}
{{- printf "%s-serving-cert" (include "meshguard.fullname" .) }}
{{- end }}
{{- end }}

{{/* DNS name the API server calls; the serving certificate is issued for it. */}}
{{- define "meshguard.serviceDNS" -}}
{{- printf "%s.%s.svc" (include "meshguard.fullname" .) .Release.Namespace }}
{{- end }}

{{/* image reference: digest wins over tag; the tag defaults to appVersion. */}}
{{- define "meshguard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Effective mode of a rule: (list $ "rule-id") → enforce, audit or off. YAML 1.1
reads an unquoted `mode: off` in a values file as false; it means off.
*/}}
{{- define "meshguard.ruleMode" -}}
{{- $root := index . 0 }}
{{- $mode := (index $root.Values.rules (index . 1)).mode }}
{{- if kindIs "bool" $mode }}off
{{- else }}{{ default $root.Values.mode $mode }}
{{- end }}
{{- end }}

{{/*
failurePolicy of a rule's webhook entries: (list $ "rule-id").
namespace-joins-mesh only ever warns, so it fails open whatever is set: a Fail
there would block every namespace update in the cluster while meshguard is down.
*/}}
{{- define "meshguard.failurePolicy" -}}
{{- $root := index . 0 }}
{{- if has (index . 1) (list "namespace-joins-mesh" "probe-rewrite-disabled") }}Ignore
{{- else if $root.Values.failurePolicy }}{{ $root.Values.failurePolicy }}
{{- else if eq (include "meshguard.ruleMode" .) "audit" }}Ignore
{{- else }}Fail
{{- end }}
{{- end }}

{{/* Namespaces never reviewed: the ones a webhook outage must not block, the release's own, and excludedNamespaces. */}}
{{- define "meshguard.excludedNamespaces" -}}
{{- concat (list "kube-system" "kube-node-lease" .Release.Namespace) .Values.excludedNamespaces | uniq | toJson }}
{{- end }}

{{/*
Mesh selectors of the webhooks scoped to mesh-enabled namespaces, as a JSON
list of {name, expressions}. A namespaceSelector cannot express OR, so each
way into the mesh gets its own webhook entry. The selectors are disjoint, so
the API server calls meshguard once per request even for a namespace that
carries several mesh labels (calling twice would double warnings, audit
annotations and decision counts): ambient wins over the injection labels, as
in pkg/mesh; istio-injection=enabled covers the rest with that label;
istio.io/rev counts only without istio-injection (istio-injection=disabled
opts out and wins over istio.io/rev); meshByDefault adds the namespaces with
none of the three labels.
*/}}
{{- define "meshguard.meshSelectors" -}}
{{- $notAmbient := dict "key" "istio.io/dataplane-mode" "operator" "NotIn" "values" (list "ambient") }}
{{- $selectors := list
  (dict "name" "injection" "expressions" (list
    (dict "key" "istio-injection" "operator" "In" "values" (list "enabled"))
    $notAmbient))
  (dict "name" "revision" "expressions" (list
    (dict "key" "istio.io/rev" "operator" "Exists")
    (dict "key" "istio-injection" "operator" "DoesNotExist")
    $notAmbient))
  (dict "name" "ambient" "expressions" (list
    (dict "key" "istio.io/dataplane-mode" "operator" "In" "values" (list "ambient")))) }}
{{- if .Values.meshByDefault }}
{{- $selectors = append $selectors (dict "name" "default" "expressions" (list
    (dict "key" "istio-injection" "operator" "DoesNotExist")
    (dict "key" "istio.io/rev" "operator" "DoesNotExist")
    (dict "key" "istio.io/dataplane-mode" "operator" "DoesNotExist")
    (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (list "kube-public")))) }}
{{- end }}
{{- toJson $selectors }}
{{- end }}

{{/*
CEL: is the namespace object X ("object" or "oldObject") mesh-enabled?
(list "object" meshByDefault). Mirrors pkg/mesh.Check; with meshByDefault it
does not exclude system namespaces, which only makes it wider.
*/}}
{{- define "meshguard.cel.meshed" -}}
{{- $l := printf "%s.metadata.labels" (index . 0) }}
{{- $ambient := printf "('istio.io/dataplane-mode' in %s && %s['istio.io/dataplane-mode'] == 'ambient')" $l $l }}
{{- if index . 1 -}}
(!has({{ $l }}) || {{ $ambient }} || ('istio-injection' in {{ $l }} ? {{ $l }}['istio-injection'] == 'enabled' : ('istio.io/rev' in {{ $l }} || !('istio.io/dataplane-mode' in {{ $l }}))))
{{- else -}}
(has({{ $l }}) && ({{ $ambient }} || ('istio-injection' in {{ $l }} ? {{ $l }}['istio-injection'] == 'enabled' : 'istio.io/rev' in {{ $l }})))
{{- end }}
{{- end }}

{{/* caBundle of the self mode: the CA already in the chart's Secret, so an upgrade does not blank it until the rotator re-injects it. */}}
{{- define "meshguard.selfCABundle" -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "meshguard.selfSecret" .) }}
{{- if and $secret $secret.data }}
{{- index $secret.data "ca.crt" | default "" }}
{{- end }}
{{- end }}

{{/*
The self mode's CA while the release switches away from it: the live webhook
configurations are still labelled meshguard.dev/self-ca "true" and the self
mode's Secret still holds its CA. The replicas still running in self mode
serve certificates of that CA until the rollout replaces them, so the new
caBundle trusts it too (until the next upgrade, when the label says "false").
*/}}
{{- define "meshguard.leavingSelfCA" -}}
{{- $name := include "meshguard.fullname" . }}
{{- $self := false }}
{{- range list "ValidatingWebhookConfiguration" "MutatingWebhookConfiguration" }}
{{- $live := lookup "admissionregistration.k8s.io/v1" . "" $name }}
{{- if and $live (eq (dig "metadata" "labels" "meshguard.dev/self-ca" "" $live) "true") }}
{{- $self = true }}
{{- end }}
{{- end }}
{{- if $self }}
{{- include "meshguard.selfCABundle" . | b64dec }}
{{- end }}
{{- end }}

{{/* clientConfig of a webhook entry: (list $ "/validate"). */}}
{{- define "meshguard.clientConfig" -}}
{{- $root := index . 0 -}}
clientConfig:
  service:
    name: {{ include "meshguard.fullname" $root }}
    namespace: {{ $root.Release.Namespace }}
    path: {{ index . 1 }}
    port: {{ $root.Values.service.port }}
  {{- if eq $root.Values.certificates.mode "provided" }}
  {{- $ca := required "certificates.provided.caBundle is required with certificates.mode=provided: the PEM CA that signed the Secret's tls.crt (--set-file certificates.provided.caBundle=ca.crt)" $root.Values.certificates.provided.caBundle }}
  {{- with include "meshguard.leavingSelfCA" $root }}
  {{- $ca = printf "%s\n%s" (trimSuffix "\n" $ca) . }}
  {{- end }}
  caBundle: {{ $ca | b64enc }}
  {{- else if eq $root.Values.certificates.mode "self" }}
  {{- with include "meshguard.selfCABundle" $root }}
  caBundle: {{ . }}
  {{- end }}
  {{- end }}
{{- end }}

{{/* Metadata shared by both webhook configurations. */}}
{{- define "meshguard.webhookMetadata" -}}
name: {{ include "meshguard.fullname" . }}
labels:
  {{- include "meshguard.labels" . | nindent 2 }}
  {{- /* Replicas in self mode write their CA only into configurations not
         labelled "false" (certs.SelfCALabel): after a switch away from self,
         the replicas still draining leave the new caBundle alone. */}}
  meshguard.dev/self-ca: {{ eq .Values.certificates.mode "self" | quote }}
{{- if eq .Values.certificates.mode "cert-manager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "meshguard.fullname" . }}-serving
{{- end }}
{{- end }}

{{/*
One webhook entry. Parameters (dict): root, name, path, rule (rule ID),
resources (list of {group, versions, resource}), scope, expressions (extra
namespaceSelector expressions), matchCondition (CEL, optional), mutating.
*/}}
{{- define "meshguard.webhook" -}}
{{- $root := .root -}}
- name: {{ .name }}
  admissionReviewVersions: ["v1"]
  sideEffects: None
  timeoutSeconds: {{ $root.Values.timeoutSeconds }}
  failurePolicy: {{ include "meshguard.failurePolicy" (list $root .rule) }}
  matchPolicy: Equivalent
  {{- if .mutating }}
  reinvocationPolicy: IfNeeded
  {{- end }}
  {{- include "meshguard.clientConfig" (list $root .path) | nindent 2 }}
  rules:
    {{- range .resources }}
    - apiGroups: [{{ .group | quote }}]
      apiVersions: {{ toJson .versions }}
      resources: [{{ .resource | quote }}]
      operations: ["CREATE", "UPDATE"]
      scope: {{ $.scope | quote }}
    {{- end }}
  namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values: {{ include "meshguard.excludedNamespaces" $root }}
      {{- range .expressions }}
      - key: {{ .key }}
        operator: {{ .operator }}
        {{- with .values }}
        values: {{ toJson . }}
        {{- end }}
      {{- end }}
  {{- with .matchCondition }}
  matchConditions:
    - name: {{ $.conditionName }}
      expression: {{ . | quote }}
  {{- end }}
{{- end }}

{{/* "true" when some validating rule is on, else empty. */}}
{{- define "meshguard.validatingEnabled" -}}
{{- if or (ne (include "meshguard.ruleMode" (list . "ingress-in-mesh")) "off") (ne (include "meshguard.ruleMode" (list . "namespace-joins-mesh")) "off") (ne (include "meshguard.ruleMode" (list . "probe-rewrite-disabled")) "off") }}true{{ end }}
{{- end }}

{{/* "true" when some mutating rule is on, else empty. */}}
{{- define "meshguard.mutatingEnabled" -}}
{{- if or (ne (include "meshguard.ruleMode" (list . "nginx-http11")) "off") (ne (include "meshguard.ruleMode" (list . "gce-metadata-address")) "off") (ne (include "meshguard.ruleMode" (list . "gateway-credential-name")) "off") }}true{{ end }}
{{- end }}

{{/*
Rules the API server enforces itself, through the admission policies
meshguard's leader compiles from them (engine cel or auto), as a JSON list:
ingress-in-mesh as a ValidatingAdmissionPolicy, gce-metadata-address as a
MutatingAdmissionPolicy (with a warning ValidatingAdmissionPolicy). A rule
that is off is in none; engine cel fails where the cluster does not serve a
rule's policy API, auto falls back to the webhook there.
*/}}
{{- define "meshguard.compiledRules" -}}
{{- $apis := dict
  "ingress-in-mesh" "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
  "gce-metadata-address" "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy" }}
{{- $rules := list }}
{{- range $id := list "ingress-in-mesh" "gce-metadata-address" }}
{{- $api := index $apis $id }}
{{- if and (ne $.Values.engine "webhook") (ne (include "meshguard.ruleMode" (list $ $id)) "off") }}
{{- if $.Capabilities.APIVersions.Has $api }}
{{- $rules = append $rules $id }}
{{- else if eq $.Values.engine "cel" }}
{{- fail (printf "engine: cel needs %s for rule %s, which the cluster (Kubernetes %s) does not serve: use engine auto or webhook (helm template knows only what --api-versions names: pass --api-versions %s)" $api $id $.Capabilities.KubeVersion.Version $api) }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $rules }}
{{- end }}
