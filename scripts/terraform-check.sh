#!/usr/bin/env bash
# terraform-check.sh - offline checks of the acmera Terraform module (terraform/)
# and its examples, for CI:
#   1. terraform fmt -check -recursive terraform
#   2. tf-validate (validate + plan against the real google provider 6.50.0
#      schema, no network) on the module and on every example
#   3. assertions on the basic example's plan (terraform show -json): both
#      Cloud Run services, the queue, the TTL fields, the service accounts and
#      their IAM bindings, one google_firestore_index per entry of
#      terraform/firestore_indexes.json, the monitoring dashboard and alert
#      policies (and none with enable_monitoring=false); on the vault,
#      aws-private-ca and adcs plans and a module plan with every Vault login
#      and an NTLM AD CS backend: the generated backends, their secret volumes
#      and bindings, the ACME service's egress, no secret in an env var
#
# Environment: TF_VALIDATE (path of tf-validate, default
# ../shared/tools/tf-google-offline/tf-validate from the repository root),
# TERRAFORM (default terraform). Needs jq.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CHECKPOINT_DISABLE=1
# A TF_CLI_CONFIG_FILE that points nowhere only produces warnings; drop it.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then unset TF_CLI_CONFIG_FILE; fi

tf="${TERRAFORM:-terraform}"
tfv="${TF_VALIDATE:-$root/../shared/tools/tf-google-offline/tf-validate}"
command -v "$tf" >/dev/null || { echo "terraform-check: $tf not found" >&2; exit 1; }
[ -x "$tfv" ] || { echo "terraform-check: tf-validate not found at $tfv (set TF_VALIDATE)" >&2; exit 1; }
command -v jq >/dev/null || { echo "terraform-check: jq not found" >&2; exit 1; }

out="$(mktemp -d "${TMPDIR:-/tmp}/terraform-check.XXXXXX")"
trap 'rm -rf "$out"' EXIT

fail() { echo "terraform-check: FAIL: $*" >&2; exit 1; }

echo "== terraform fmt -check -recursive terraform"
"$tf" fmt -check -recursive -diff terraform || fail "terraform fmt: run terraform fmt -recursive terraform"

project=demo-project
pool="projects/$project/locations/us-central1/caPools/acmera-pool"
image="us-docker.pkg.dev/$project/acmera/acmera@sha256:$(printf '0%.0s' $(seq 64))"

# plan NAME DIR [plan args...]: tf-validate DIR, then write the plan as JSON to
# $out/NAME.json (tf-validate keeps its temporary copy so `terraform show` can
# read the plan with the same offline provider).
plan() {
  local name="$1" dir="$2"; shift 2
  local log="$out/$name.log" work wd
  echo "== tf-validate $dir $*"
  if ! TF_VALIDATE_KEEP=1 "$tfv" "$dir" -out="$out/$name.tfplan" "$@" >"$log" 2>&1; then
    cat "$log" >&2
    work="$(sed -n 's/^tf-validate: keeping //p' "$log")"
    [ -z "$work" ] || rm -rf "$work"
    fail "tf-validate $dir"
  fi
  grep -E '^tf-validate: OK' "$log"
  work="$(sed -n 's/^tf-validate: keeping //p' "$log")"
  [ -d "$work" ] || fail "tf-validate did not keep its work directory"
  wd="$(dirname "$(find "$work/src" -maxdepth 6 -type d -name .terraform | head -1)")"
  TF_CLI_CONFIG_FILE="$work/cli.tfrc" TF_DATA_DIR="$wd/.terraform" \
    "$tf" -chdir="$wd" show -json "$out/$name.tfplan" >"$out/$name.json" || { rm -rf "$work"; fail "terraform show $name"; }
  rm -rf "$work"
}

# The module on its own, twice: the defaults path (existing pool, connector)
# and the everything-on path (new pool, Direct VPC egress, internal LB with an
# uploaded certificate, profiles from a secret); then with CA backends.
plan module terraform -var project_id=$project -var image="$image" -var ca_pool_id="$pool" -var vpc_connector_cidr=10.8.0.0/28 \
  -var 'profiles_json={"profiles":{"acme":{"dnsSuffixes":["internal.example.com"]}}}'
plan module-full terraform -var project_id=$project -var image="$image" -var create_ca_pool=true \
  -var vpc_egress=direct -var subnetwork=default -var create_internal_lb=true -var lb_hostname=acme.internal.example.com \
  -var lb_ssl_certificate=PEM -var lb_ssl_private_key=KEY -var proxy_only_subnet_cidr=10.129.0.0/23 \
  -var profiles_secret_id=acmera-profiles -var nonce_key="$(printf 'A%.0s' $(seq 43))=" -var enable_revocation=true \
  -var 'validation_networks=["10.0.0.0/8","fd00::/8"]'
plan basic terraform/examples/basic -var project_id=$project -var ca_pool_id="$pool"
plan module-nomon terraform -var project_id=$project -var image="$image" -var ca_pool_id="$pool" -var vpc_connector_cidr=10.8.0.0/28 \
  -var 'profiles_json={"profiles":{"acme":{"dnsSuffixes":["internal.example.com"]}}}' -var enable_monitoring=false
plan internal-lb-gke terraform/examples/internal-lb-gke -var project_id=$project -var ca_pool_id="$pool" \
  -var proxy_only_subnet_cidr=10.129.0.0/23 -var lb_ssl_certificate_id="projects/$project/regions/us-central1/sslCertificates/acme"
plan new-ca-pool terraform/examples/new-ca-pool -var project_id=$project
plan vault terraform/examples/vault -var project_id=$project -var ca_pool_id="$pool" \
  -var 'vault_ca_cert_pem=-----BEGIN CERTIFICATE-----
MIIB
-----END CERTIFICATE-----'
plan aws-private-ca terraform/examples/aws-private-ca -var project_id=$project -var ca_pool_id="$pool"
# A keytab is binary: given base64, stored as its bytes.
keytab_b64="$(printf 'keytab\005\002\377' | base64 | tr -d '\n')"
plan adcs terraform/examples/adcs -var project_id=$project -var ca_pool_id="$pool" \
  -var adcs_keytab_base64="$keytab_b64" -var 'adcs_ca_name=Corp Issuing CA' -var 'adcs_ca_bundle_pem=-----BEGIN CERTIFICATE-----
MIIB
-----END CERTIFICATE-----'
# The module with the other Vault logins (AppRole with its secret ID given,
# a token added out of band), an AWS CA, an AD CS CA over NTLM (its password
# given), Direct VPC egress and all traffic.
plan module-backends terraform -var project_id=$project -var image="$image" -var ca_pool_id="$pool" \
  -var vpc_egress=direct -var subnetwork=default -var acme_vpc_egress_traffic=ALL_TRAFFIC \
  -var 'vault_backends={ar={address="https://vault.example:8200",mount="pki",role="acmera",auth={method="approle",role_id="r-1"}},tk={address="https://10.0.0.5:8200",mount="pki/int",role="acmera",namespace="team",auth={method="token"}}}' \
  -var 'vault_auth_secrets={ar="s.secret-id"}' \
  -var 'awspca_backends={aws={ca_arn="arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/abc-1",role_arn="arn:aws:iam::111122223333:role/acmera",audience="sts.amazonaws.com",signing_algorithm="SHA256WITHECDSA"}}' \
  -var 'adcs_backends={nt={base_url="https://10.0.0.9/certsrv",template="AcmeraWebServer",auth={method="ntlm",domain="CORP",username="svc-acmera"},approval_deadline="90m"}}' \
  -var 'adcs_auth_secrets={nt="adcs-pass-word"}' \
  -var 'profiles_json={"profiles":{"acme":{"dnsSuffixes":["example.com"]},"ar":{"backend":"ar","dnsSuffixes":["ar.example"]},"tk":{"backend":"tk","dnsSuffixes":["tk.example"]},"aws":{"backend":"aws","dnsSuffixes":["aws.example"]},"nt":{"backend":"nt","dnsSuffixes":["nt.example"]}}}'

# ---------------------------------------------------------------- assertions on the basic plan
echo "== assertions on the basic plan"
b="$out/basic.json"
# rc ADDRESS-SUFFIX: the planned "after" values of one resource, by address.
q() { jq -e "$@" "$b" >/dev/null; }
want() { local what="$1"; shift; q "$@" || fail "basic plan: $what"; echo "ok: $what"; }

rcs='[.resource_changes[] | select(.change.actions == ["create"])]'
svc() { echo "$rcs | map(select(.type == \"google_cloud_run_v2_service\" and .name == \"$1\"))[0].change.after"; }
envof() { echo "($(svc "$1")).template[0].containers[0].env | map({key: .name, value: .value}) | from_entries"; }

want "Cloud Run service acme with FUNCTION_TARGET=ACME, internal ingress" \
  "($(envof acme)).FUNCTION_TARGET == \"ACME\" and ($(svc acme)).ingress == \"INGRESS_TRAFFIC_INTERNAL_ONLY\""
want "Cloud Run service validator with FUNCTION_TARGET=Validate, internal ingress, never public" \
  "($(envof validator)).FUNCTION_TARGET == \"Validate\" and ($(svc validator)).ingress == \"INGRESS_TRAFFIC_INTERNAL_ONLY\" and ($(svc validator)).invoker_iam_disabled == false"
want "both services run the same image" "($(svc acme)).template[0].containers[0].image == ($(svc validator)).template[0].containers[0].image"
want "validator egresses through the VPC connector" "($(svc validator)).template[0].vpc_access | length == 1"
want "acme stays off the VPC without CA backends" "($(svc acme)).template[0].vpc_access | length == 0"
want "no backend secret volumes without CA backends" "[$rcs[] | select(.type == \"google_cloud_run_v2_service\") | .change.after.template[0].volumes[]] | length == 0"
want "validator knows the tasks service account and its own URL" \
  "($(envof validator)).ACMERA_TASKS_SERVICE_ACCOUNT == \"acmera-tasks@$project.iam.gserviceaccount.com\" and (($(envof validator)).ACMERA_VALIDATOR_URL | startswith(\"https://acmera-validator-\"))"
want "acme reads the nonce key from Secret Manager" \
  "($(svc acme)).template[0].containers[0].env | map(select(.name == \"ACMERA_NONCE_KEY\"))[0].value_source[0].secret_key_ref[0].version == \"latest\""
want "validator keeps the whole deny list by default (no ACMERA_VALIDATION_NETWORKS)" \
  "($(envof validator)) | has(\"ACMERA_VALIDATION_NETWORKS\") | not"
want "validator gets no nonce key (it serves no nonces)" \
  "($(svc validator)).template[0].containers[0].env | map(select(.name == \"ACMERA_NONCE_KEY\")) | length == 0"
for s in acme validator; do
  want "$s has an issuance policy" "($(envof $s)).ACMERA_PROFILES_JSON | fromjson | .profiles.acme != null"
done
want "Cloud Tasks queue with explicit retry_config and rate_limits" \
  "$rcs | map(select(.type == \"google_cloud_tasks_queue\"))[0].change.after | (.retry_config[0].max_attempts > 0) and (.rate_limits[0].max_dispatches_per_second > 0)"
want "a reconcile schedule posting {\"kind\":\"reconcile\"} to the validator with an OIDC token for it" \
  "$rcs | map(select(.type == \"google_cloud_scheduler_job\"))[0].change | (.after.http_target[0] | (.body | @base64d | fromjson | .kind == \"reconcile\") and (.uri | startswith(\"https://acmera-validator-\")) and .oidc_token[0].audience == .uri) and .after_unknown.http_target[0].oidc_token[0].service_account_email == true"
for c in nonces orders authorizations certificates; do
  want "TTL policy on $c.expireAt" \
    "$rcs | map(select(.type == \"google_firestore_field\" and .change.after.collection == \"$c\" and .change.after.field == \"expireAt\" and (.change.after.ttl_config | length == 1))) | length == 1"
done
for a in acme validator tasks; do
  want "service account $a" "$rcs | map(select(.type == \"google_service_account\" and .change.after.account_id == \"acmera-$a\")) | length == 1"
done
m() { echo "serviceAccount:acmera-$1@$project.iam.gserviceaccount.com"; }
binding() { # TYPE ROLE MEMBER
  echo "$rcs | map(select(.type == \"$1\" and .change.after.role == \"$2\" and .change.after.member == \"$3\")) | length == 1"
}
want "acme: datastore.user (database-scoped)" "$(binding google_project_iam_member roles/datastore.user "$(m acme)")"
want "validator: datastore.user (database-scoped)" "$(binding google_project_iam_member roles/datastore.user "$(m validator)")"
want "datastore.user bindings carry a database condition" \
  "$rcs | map(select(.type == \"google_project_iam_member\" and .change.after.role == \"roles/datastore.user\")) | all(.change.after.condition[0].expression | contains(\"/databases/\"))"
want "acme: cloudtasks.enqueuer on the queue" "$(binding google_cloud_tasks_queue_iam_member roles/cloudtasks.enqueuer "$(m acme)")"
want "acme: serviceAccountUser on the tasks account" "$(binding google_service_account_iam_member roles/iam.serviceAccountUser "$(m acme)")"
want "acme: certificateRequester on the pool" "$(binding google_privateca_ca_pool_iam_member roles/privateca.certificateRequester "$(m acme)")"
want "tasks: run.invoker on the validator only" \
  "$rcs | map(select(.type == \"google_cloud_run_v2_service_iam_member\")) | length == 1 and .[0].change.after.name == \"acmera-validator\" and .[0].change.after.member == \"$(m tasks)\" and .[0].change.after.role == \"roles/run.invoker\""
want "acme, validator: monitoring.metricWriter (enable_monitoring)" \
  "($(binding google_project_iam_member roles/monitoring.metricWriter "$(m acme)")) and ($(binding google_project_iam_member roles/monitoring.metricWriter "$(m validator)"))"
want "no project-wide role beyond datastore.user and monitoring.metricWriter" \
  "$rcs | map(select(.type == \"google_project_iam_member\" and .change.after.role != \"roles/datastore.user\" and .change.after.role != \"roles/monitoring.metricWriter\")) | length == 0"
for s in acme validator; do
  want "$s exports metrics to Cloud Monitoring (ACMERA_METRICS=cloudmonitoring)" "($(envof $s)).ACMERA_METRICS == \"cloudmonitoring\""
done
want "one monitoring dashboard with the issuance, validation, CA p95, rate-limit and stuck-order tiles" \
  "$rcs | map(select(.type == \"google_monitoring_dashboard\")) | length == 1 and (.[0].change.after.dashboard_json | fromjson | [.mosaicLayout.tiles[].widget.xyChart.dataSets[0].timeSeriesQuery.timeSeriesFilter.filter] | (any(contains(\"acmera.issuances\")) and any(contains(\"acmera.validations\")) and any(contains(\"acmera.ca.call.duration\")) and any(contains(\"acmera.ratelimit.refusals\")) and any(contains(\"acmera.reconcile.stuck\"))))"
want "alert policies: issuance errors, validation failures, CA unavailable, p95 finalize latency, queue backlog" \
  "$rcs | map(select(.type == \"google_monitoring_alert_policy\") | .name) | sort == [\"ca_unavailable\", \"finalize_latency\", \"issuance_errors\", \"queue_backlog\", \"validation_failures\"]"
want "queue backlog alert watches the Cloud Tasks queue depth" \
  "$rcs | map(select(.type == \"google_monitoring_alert_policy\" and .name == \"queue_backlog\"))[0].change.after.conditions[0].condition_threshold[0].filter | contains(\"cloudtasks.googleapis.com/queue/depth\")"
want "no allUsers/allAuthenticatedUsers binding" \
  "[.resource_changes[].change.after.member? // empty | select(. == \"allUsers\" or . == \"allAuthenticatedUsers\")] | length == 0"
n="$(jq length terraform/firestore_indexes.json)"
want "one google_firestore_index per firestore_indexes.json entry ($n)" \
  "$rcs | map(select(.type == \"google_firestore_index\")) | length == $n"

# The everything-on module plan: the load balancer chain and revocation.
b="$out/module-full.json"
for t in google_compute_region_network_endpoint_group google_compute_region_backend_service google_compute_region_url_map \
  google_compute_region_target_https_proxy google_compute_region_ssl_certificate google_compute_forwarding_rule \
  google_privateca_ca_pool google_privateca_certificate_authority google_compute_subnetwork; do
  want "full plan: $t" "$rcs | map(select(.type == \"$t\")) | length == 1"
done
want "full plan: revocation grants certificateManager" "$(binding google_privateca_ca_pool_iam_member roles/privateca.certificateManager "$(m acme)")"
want "full plan: validation_networks reach the validator only" \
  "($(envof validator)).ACMERA_VALIDATION_NETWORKS == \"10.0.0.0/8,fd00::/8\" and (($(envof acme)) | has(\"ACMERA_VALIDATION_NETWORKS\") | not)"
want "full plan: directory URL on the load balancer hostname" '.planned_values.outputs.directory_url.value == "https://acme.internal.example.com/acme/acme/directory"'

# The CA backend plans: profiles pick the generated backends, their files are
# secret volumes in both services readable by the runtime accounts only, the
# ACME service joins the VPC, and no secret reaches an env var.
b="$out/vault.json"
for s in acme validator; do
  want "vault: $s profiles carry the onprem backend and the corp profile on it" \
    "($(envof $s)).ACMERA_PROFILES_JSON | fromjson | (.backends.onprem.vault.caCertFile == \"/secrets/vault-onprem-ca/ca.pem\" and .backends.onprem.vault.auth.method == \"jwt\" and .profiles.corp.backend == \"onprem\")"
  want "vault: $s mounts the CA secret at /secrets/vault-onprem-ca" \
    "($(svc $s)).template[0] | (.volumes | map(select(.name == \"vault-onprem-ca\" and .secret[0].secret == \"acmera-vault-onprem-ca\" and .secret[0].items[0].path == \"ca.pem\")) | length == 1) and (.containers[0].volume_mounts | map(select(.name == \"vault-onprem-ca\" and .mount_path == \"/secrets/vault-onprem-ca\")) | length == 1)"
done
want "vault: the ACME service egresses through the connector, private ranges only" \
  "($(svc acme)).template[0].vpc_access[0].egress == \"PRIVATE_RANGES_ONLY\""
want "vault: secretAccessor on the CA secret for acme and validator only" \
  "$rcs | map(select(.type == \"google_secret_manager_secret_iam_member\" and .change.after.secret_id == \"acmera-vault-onprem-ca\") | .change.after.member) | sort == [\"$(m acme)\", \"$(m validator)\"]"
want "vault: policy HCL output signs with the role" \
  '.planned_values.outputs.vault_policy.value | contains("path \"pki_int/sign/acmera\"")'
b="$out/aws-private-ca.json"
want "aws: profiles carry the aws backend" \
  "($(envof acme)).ACMERA_PROFILES_JSON | fromjson | (.backends.aws.awspca.roleArn == \"arn:aws:iam::111122223333:role/acmera\" and .profiles.aws.backend == \"aws\")"
want "aws: no secret beyond the nonce key" "$rcs | map(select(.type == \"google_secret_manager_secret\")) | length == 1"
want "aws: permission policy grants the five acm-pca actions on the CA" \
  '.planned_values.outputs.permission_policy.value | fromjson | [.Statement[].Action] | flatten | sort == ["acm-pca:DescribeCertificateAuthority","acm-pca:GetCertificate","acm-pca:GetCertificateAuthorityCertificate","acm-pca:IssueCertificate","acm-pca:RevokeCertificate"]'
b="$out/adcs.json"
for s in acme validator; do
  want "adcs: $s profiles carry the corp backend exactly as pkg/config reads it, and the corp profile on it" \
    "($(envof $s)).ACMERA_PROFILES_JSON | fromjson | (.backends.corp == {adcs: {baseURL: \"https://ca01.corp.example/certsrv\", template: \"AcmeraWebServer\", caBundleFile: \"/secrets/adcs-corp-ca/ca.pem\", revocation: \"dcom\", caName: \"Corp Issuing CA\", auth: {method: \"kerberos\", realm: \"CORP.EXAMPLE\", kdc: [\"dc01.corp.example:88\", \"dc02.corp.example:88\"], username: \"svc-acmera\", keytabFile: \"/secrets/adcs-corp-keytab/keytab\"}}} and .profiles.corp.backend == \"corp\")"
  for f in ca:ca.pem keytab:keytab; do
    want "adcs: $s mounts the ${f%%:*} secret at /secrets/adcs-corp-${f%%:*}/${f#*:}" \
      "($(svc $s)).template[0] | (.volumes | map(select(.name == \"adcs-corp-${f%%:*}\" and .secret[0].secret == \"acmera-adcs-corp-${f%%:*}\" and .secret[0].items[0].path == \"${f#*:}\" and .secret[0].items[0].version == \"latest\")) | length == 1) and (.containers[0].volume_mounts | map(select(.name == \"adcs-corp-${f%%:*}\" and .mount_path == \"/secrets/adcs-corp-${f%%:*}\")) | length == 1)"
  done
  want "adcs: no $s env var holds the keytab or a secret reference beyond the nonce key" \
    "($(svc $s)).template[0].containers[0].env | (map(.value // \"\" | select(contains(\"$keytab_b64\"))) | length == 0) and (map(select(.value_source != [] and .value_source != null) | .name) - [\"ACMERA_NONCE_KEY\"] | length == 0)"
done
want "adcs: the keytab is stored from base64, as its bytes" \
  "$rcs | map(select(.type == \"google_secret_manager_secret_version\" and (.address | contains(\"adcs-corp-keytab\"))))[0].change.after.is_secret_data_base64 == true"
for sec in acmera-adcs-corp-ca acmera-adcs-corp-keytab; do
  want "adcs: secretAccessor on $sec for acme and validator only" \
    "$rcs | map(select(.type == \"google_secret_manager_secret_iam_member\" and .change.after.secret_id == \"$sec\") | .change.after.member) | sort == [\"$(m acme)\", \"$(m validator)\"]"
done
want "adcs: the ACME service egresses through the connector (created, so known after apply), all traffic (AD DNS)" \
  "($(svc acme)).template[0].vpc_access[0] | .egress == \"ALL_TRAFFIC\" and .network_interfaces == []"
b="$out/module-backends.json"
want "backends: one secret per file (AppRole secret ID, token, NTLM password), one version per given secret (secret ID, password)" \
  "($rcs | map(select(.type == \"google_secret_manager_secret\" and (.change.after.secret_id | test(\"^acmera-(vault|adcs)-\"))) | .change.after.secret_id) | sort == [\"acmera-adcs-nt-password\", \"acmera-vault-ar-secret-id\", \"acmera-vault-tk-token\"]) and ($rcs | map(select(.type == \"google_secret_manager_secret_version\" and (.address | contains(\"backend_auth\"))) | .index) | sort == [\"adcs-nt-password\", \"vault-ar-secret-id\"])"
want "backends: the files are where the profiles say" \
  "($(envof validator)).ACMERA_PROFILES_JSON | fromjson | .backends | (.ar.vault.auth.secretIDFile == \"/secrets/vault-ar-secret-id/secret-id\" and .tk.vault.auth.tokenFile == \"/secrets/vault-tk-token/token\" and .aws.awspca.signingAlgorithm == \"SHA256WITHECDSA\")"
want "backends: the NTLM backend exactly as pkg/config reads it (unset fields left out)" \
  "($(envof acme)).ACMERA_PROFILES_JSON | fromjson | .backends.nt == {adcs: {baseURL: \"https://10.0.0.9/certsrv\", template: \"AcmeraWebServer\", approvalDeadline: \"90m\", auth: {method: \"ntlm\", domain: \"CORP\", username: \"svc-acmera\", passwordFile: \"/secrets/adcs-nt-password/password\"}}}"
want "backends: the NTLM password is a plain (not base64) secret version" \
  "$rcs | map(select(.address == \"google_secret_manager_secret_version.backend_auth[\\\"adcs-nt-password\\\"]\")) | length == 1 and .[0].change.after.is_secret_data_base64 == null"
want "backends: ACME service on Direct VPC egress, all traffic, its own tag" \
  "($(svc acme)).template[0].vpc_access[0] | .egress == \"ALL_TRAFFIC\" and .network_interfaces[0].tags == [\"acmera-acme\"]"
want "backends: no env var holds the secret ID or the password" \
  "[.resource_changes[] | select(.type == \"google_cloud_run_v2_service\") | .change.after.template[0].containers[0].env[] | .value // \"\" | select(contains(\"s.secret-id\") or contains(\"adcs-pass-word\"))] | length == 0"

# enable_monitoring = false: no dashboard, alerts or metricWriter, metrics off.
b="$out/module-nomon.json"
want "no monitoring: no dashboard, no alert policy, no metricWriter" \
  "$rcs | map(select(.type == \"google_monitoring_dashboard\" or .type == \"google_monitoring_alert_policy\" or .change.after.role? == \"roles/monitoring.metricWriter\")) | length == 0"
for s in acme validator; do
  want "no monitoring: $s has ACMERA_METRICS=off" "($(envof $s)).ACMERA_METRICS == \"off\""
done

echo "terraform-check: OK"
