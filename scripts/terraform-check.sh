#!/usr/bin/env bash
# terraform-check.sh - offline checks of the acmera Terraform module (terraform/)
# and its examples, for CI:
#   1. terraform fmt -check -recursive terraform
#   2. tf-validate (validate + plan against the real google provider 6.50.0
#      schema, no network) on the module and on every example
#   3. assertions on the basic example's plan (terraform show -json): both
#      Cloud Run services, the queue, the TTL fields, the service accounts and
#      their IAM bindings, one google_firestore_index per entry of
#      terraform/firestore_indexes.json
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
# uploaded certificate, profiles from a secret).
plan module terraform -var project_id=$project -var image="$image" -var ca_pool_id="$pool" -var vpc_connector_cidr=10.8.0.0/28 \
  -var 'profiles_json={"profiles":{"acme":{"dnsSuffixes":["internal.example.com"]}}}'
plan module-full terraform -var project_id=$project -var image="$image" -var create_ca_pool=true \
  -var vpc_egress=direct -var subnetwork=default -var create_internal_lb=true -var lb_hostname=acme.internal.example.com \
  -var lb_ssl_certificate=PEM -var lb_ssl_private_key=KEY -var proxy_only_subnet_cidr=10.129.0.0/23 \
  -var profiles_secret_id=acmera-profiles -var nonce_key="$(printf 'A%.0s' $(seq 43))=" -var enable_revocation=true \
  -var 'validation_networks=["10.0.0.0/8","fd00::/8"]'
plan basic terraform/examples/basic -var project_id=$project -var ca_pool_id="$pool"
plan internal-lb-gke terraform/examples/internal-lb-gke -var project_id=$project -var ca_pool_id="$pool" \
  -var proxy_only_subnet_cidr=10.129.0.0/23 -var lb_ssl_certificate_id="projects/$project/regions/us-central1/sslCertificates/acme"
plan new-ca-pool terraform/examples/new-ca-pool -var project_id=$project

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
  "$rcs | map(select(.type == \"google_project_iam_member\")) | all(.change.after.condition[0].expression | contains(\"/databases/\"))"
want "acme: cloudtasks.enqueuer on the queue" "$(binding google_cloud_tasks_queue_iam_member roles/cloudtasks.enqueuer "$(m acme)")"
want "acme: serviceAccountUser on the tasks account" "$(binding google_service_account_iam_member roles/iam.serviceAccountUser "$(m acme)")"
want "acme: certificateRequester on the pool" "$(binding google_privateca_ca_pool_iam_member roles/privateca.certificateRequester "$(m acme)")"
want "tasks: run.invoker on the validator only" \
  "$rcs | map(select(.type == \"google_cloud_run_v2_service_iam_member\")) | length == 1 and .[0].change.after.name == \"acmera-validator\" and .[0].change.after.member == \"$(m tasks)\" and .[0].change.after.role == \"roles/run.invoker\""
want "no project-wide role beyond datastore.user" \
  "$rcs | map(select(.type == \"google_project_iam_member\" and .change.after.role != \"roles/datastore.user\")) | length == 0"
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

echo "terraform-check: OK"
