{{/* Labels every object carries (the same as the kustomize install). */}}
{{- define "prepuller.labels" -}}
app.kubernetes.io/name: prepuller
{{- end }}

{{/* Labels of the prepuller pods and what selects them. */}}
{{- define "prepuller.podLabels" -}}
app.kubernetes.io/name: prepuller
app.kubernetes.io/component: controller
{{- end }}

{{- define "prepuller.mode" -}}
{{- $c := .Values.config.certs | default dict }}
{{- $m := $c.mode | default "self-signed" }}
{{- if not (has $m (list "self-signed" "cert-manager" "files")) }}
{{- fail (printf "config.certs.mode: %q is not one of self-signed, cert-manager, files" $m) }}
{{- end }}
{{- $m }}
{{- end }}

{{- define "prepuller.secretName" -}}
{{- (.Values.config.certs | default dict).secretName | default "prepuller-webhook-tls" }}
{{- end }}

{{- define "prepuller.serviceName" -}}
{{- (.Values.config.certs | default dict).serviceName | default "prepuller-webhook" }}
{{- end }}

{{- define "prepuller.webhookConfigName" -}}
{{- (.Values.config.certs | default dict).webhookConfigName | default "prepuller" }}
{{- end }}

{{- define "prepuller.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}

{{- define "prepuller.certDir" -}}
{{- (.Values.config.webhook | default dict).certDir | default "/tmp/k8s-webhook-server/serving-certs" }}
{{- end }}
