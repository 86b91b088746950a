#!/usr/bin/env bash
# The whole life of a preview environment on the local AWS emulator, printed as it happens:
# seed an account, then create (PR opened), deploy (a push), delete (PR closed) with the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
url=$(scripts/emulator.sh start)
export AWS_ENDPOINT_URL=$url AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=ap-northeast-1
cargo build -q --bin eden
eden=target/debug/eden
work=$(mktemp -d)
prefix="demo$(printf '%04x' $((RANDOM)))"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Seeding the emulator ($url) like a real account: VPC, reference service, shared ALB, zone, bucket, ECR"
.venv-moto/bin/python scripts/seed.py --endpoint "$url" --prefix "$prefix" >"$work/world.json"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
w = json.load(open(f"{work}/world.json"))
p = w["profiles"]["api"]
print(f"reference service: {p['reference_service_arn']}\nshared ALB:        {p['master_alb_arn']}\nzone:              {w['zone_name']}")
open(f"{work}/image", "w").write(w["references"]["api"]["images"]["sha-1"] + "\n" + w["references"]["api"]["images"]["sha-2"])
args = []
for k, v in p.items():
    args += [f"--{k.replace('_', '-')}", v]
open(f"{work}/setup-args", "w").write("\n".join(args))
PY
mapfile -t setup <"$work/setup-args"
mapfile -t images <"$work/image"
cfg="$work/config"
common=(-c "$cfg" --remote-table-name "$prefix-eden" -p api)

step "eden config setup + check"
$eden "${common[@]}" config setup "${setup[@]}" | sed 's/^/  /'
$eden "${common[@]}" config check

step "PR #42 opened: eden create --name pr-42 --image-uri …:sha-1"
$eden "${common[@]}" create --name pr-42 --image-uri "${images[0]}" -v

step "A push to PR #42: eden create --name pr-42 --image-uri …:sha-2 (a deploy)"
$eden "${common[@]}" create --name pr-42 --image-uri "${images[1]}" -v

step "eden ls"
$eden "${common[@]}" ls

step "The environments file in S3"
.venv-moto/bin/python -c "import boto3,sys; print(boto3.client('s3', endpoint_url='$url').get_object(Bucket='$prefix-eden-config', Key='environments.json')['Body'].read().decode())"

step "PR #42 closed: eden delete --name pr-42"
$eden "${common[@]}" delete --name pr-42 -v

step "eden ls"
$eden "${common[@]}" ls
rm -rf "$work"
