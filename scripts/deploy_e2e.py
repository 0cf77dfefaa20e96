"""Deploys example stacks as users do, against moto's CloudFormation on loopback.

For each example config given, in a fresh moto: creates the VPC, subnets, security groups,
secrets and package bucket the config names (moto's ids replace the example's), renders the
stack with `synth render -o`, runs `aws cloudformation package` and `aws cloudformation deploy`
(the AWS CLI from PyPI), then deploys a change (one database added) and checks that the nested
stack of every other database kept its physical id, then deletes the stack. Each step must end
COMPLETE.

What moto does not model, and this script therefore works around or does not check:
- moto's CloudFormation fails on a KMS key with Tags (its tagger expects TagKey), so the
  config's `tags` are dropped before rendering;
- moto reads a nested stack's TemplateURL only in S3's own URL forms, so the loopback URL
  `package` writes is rewritten to `https://s3.amazonaws.com/BUCKET/KEY` (never contacted:
  moto reads the object from its own store);
- moto creates no RotationSchedule, alarm, queue policy or topic policy (they show with an
  empty physical id), so rotation itself is not exercised here (the Lambda end-to-end test
  does that);
- configs whose code or layer is in S3 (a version id moto cannot reproduce) are skipped, and
  so are configs that create an interface endpoint: moto has no `DnsEntries` attribute for a
  VPC endpoint, which the function's environment reads;
- with `role.existing_arn`, the role is created in moto first (as it would exist);
- moto cannot update a function whose layers are references: the update adds a database
  like the first one, so only the settings layer and the schedules change;
- moto replaces a nested stack whose template changed (CloudFormation updates it in place,
  keeping its id), so the update's check covers the nested stacks whose template did not
  change: each must keep its physical id.

Usage: deploy_e2e.py --endpoint URL --aws PATH_TO_AWS_CLI --synth PATH_TO_SYNTH CONFIG...
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

import boto3
import yaml

REGION = "eu-west-1"


def run(cmd: list[str], env: dict[str, str], cwd: str) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def dummy_zip(path: str, name: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, "not a real artifact: moto never runs it\n")


class Moto:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        kw = dict(endpoint_url=endpoint, region_name=REGION,
                  aws_access_key_id="testing", aws_secret_access_key="testing")
        self.ec2 = boto3.client("ec2", **kw)
        self.s3 = boto3.client("s3", **kw)
        self.sm = boto3.client("secretsmanager", **kw)
        self.cfn = boto3.client("cloudformation", **kw)
        self.iam = boto3.client("iam", **kw)

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()

    def secret(self, arn: str) -> str:
        """Creates the secret an example ARN names; returns moto's ARN (another suffix)."""
        name = arn.split(":secret:", 1)[1].rsplit("-", 1)[0]
        try:
            return self.sm.create_secret(Name=name, SecretString='{"username":"u","password":"p"}')["ARN"]
        except self.sm.exceptions.ResourceExistsException:
            return self.sm.describe_secret(SecretId=name)["ARN"]

    def status(self, stack: str) -> str:
        return self.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]

    def nested_ids(self, stack: str) -> dict[str, str]:
        out = {}
        for r in self.cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]:
            if r["ResourceType"] == "AWS::CloudFormation::Stack":
                out[r["LogicalResourceId"]] = r["PhysicalResourceId"]
        return out


def localize(config_text: str, moto: Moto) -> str:
    """The example config with moto's network ids and secret ARNs, and without tags."""
    vpc = moto.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [moto.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                      AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"), (3, "c"))]
    text = config_text.replace("\r", "")
    text = re.sub(r"\bvpc-[0-9a-f]{8,17}\b", vpc, text)
    for i, old in enumerate(dict.fromkeys(re.findall(r"\bsubnet-[0-9a-f]{8,17}\b", text))):
        text = text.replace(old, subnets[i % len(subnets)])
    for i, old in enumerate(dict.fromkeys(re.findall(r"\bsg-[0-9a-f]{8,17}\b", text))):
        new = moto.ec2.create_security_group(GroupName=f"g{i}", Description="test", VpcId=vpc)["GroupId"]
        text = text.replace(old, new)
    for arn in dict.fromkeys(re.findall(r"arn:aws:secretsmanager:[A-Za-z0-9/_+=.@!:-]+", text)):
        text = text.replace(arn, moto.secret(arn))
    doc = yaml.safe_load(text)
    doc.pop("tags", None)
    return yaml.safe_dump(doc, sort_keys=False)


def add_database(config_text: str, moto: Moto) -> str:
    """The config with one more database, like the first one (same engine, strategy and
    master), so the function's own properties (ROTATION_STRATEGY, the ports) stay: moto
    cannot update a function whose layers are references, so that path is not deployed here."""
    doc = yaml.safe_load(config_text)
    arn = moto.secret("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/added/app-AbCdEf")
    added = {k: v for k, v in doc["databases"][0].items() if k not in ("name", "secret_arn")}
    added.update({"name": "added-database", "secret_arn": arn})
    doc["databases"].append(added)
    return yaml.safe_dump(doc, sort_keys=False)


def deploy(work: str, config_text: str, stack: str, args: argparse.Namespace, env: dict[str, str]) -> None:
    with open(os.path.join(work, "stack.yaml"), "w") as f:
        f.write(config_text)
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    run([args.synth, "render", "stack.yaml", "-o", "out/stack.template.yaml"], env, work)
    run([args.aws, "cloudformation", "package", "--template-file", "out/stack.template.yaml",
         "--s3-bucket", "artifacts", "--output-template-file", "packaged.yaml"], env, work)
    packaged = os.path.join(work, "packaged.yaml")
    with open(packaged) as f:
        text = f.read()
    text = re.sub(r"TemplateURL: https?://(127\.0\.0\.1|\[::1\]):\d+/", "TemplateURL: https://s3.amazonaws.com/", text)
    with open(packaged, "w") as f:
        f.write(text)
    run([args.aws, "cloudformation", "deploy", "--template-file", "packaged.yaml", "--stack-name", stack,
         "--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset"], env, work)


def nested_templates(work: str) -> dict[str, str]:
    """The rendered nested templates, by the logical id of their stack resource."""
    out = {}
    for name in os.listdir(os.path.join(work, "out")):
        m = re.search(r"\.schedules-(\d+)\.template\.yaml$", name)
        if m:
            with open(os.path.join(work, "out", name)) as f:
                out[f"RotationSchedules{m.group(1)}"] = f.read()
    return out


def one(config: str, args: argparse.Namespace, moto: Moto, env: dict[str, str]) -> str | None:
    with open(config) as f:
        source = f.read()
    doc = yaml.safe_load(source)
    if any("s3_bucket" in (doc.get("code", {}).get(k) or {}) for k in ("function", "layer")):
        return "skipped: code or layer in S3"
    network = doc.get("network", {})
    endpoints = ("secrets_manager_endpoint", "rds_endpoint", "ecs_endpoint", "lambda_endpoint")
    if any((network.get(k) or {}).get("create") for k in endpoints):
        return "skipped: creates an interface endpoint (moto has no DnsEntries attribute)"
    moto.reset()
    role = (doc.get("role") or {}).get("existing_arn")
    if role:
        moto.iam.create_role(
            RoleName=role.rsplit("/", 1)[1],
            Path="/" + "/".join(role.split(":role/", 1)[1].split("/")[:-1]) + ("/" if "/" in role.split(":role/", 1)[1] else ""),
            AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
        )
    moto.s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    stack = doc["name"]
    with tempfile.TemporaryDirectory(prefix="deploy-e2e-") as work:
        for k, inner in (("function", "bootstrap"), ("layer", "rds-ca/global-bundle.pem")):
            dummy_zip(os.path.normpath(os.path.join(work, "out", doc["code"][k]["path"])), inner)
        text = localize(source, moto)
        try:
            deploy(work, text, stack, args, env)
        except RuntimeError as e:
            raise RuntimeError(f"create: {e}") from e
        if moto.status(stack) != "CREATE_COMPLETE":
            raise RuntimeError(f"create ended {moto.status(stack)}")
        before = moto.nested_ids(stack)
        templates = nested_templates(work)
        try:
            deploy(work, add_database(text, moto), stack, args, env)
        except RuntimeError as e:
            raise RuntimeError(f"update: {e}") from e
        if moto.status(stack) != "UPDATE_COMPLETE":
            raise RuntimeError(f"update ended {moto.status(stack)}")
        after = moto.nested_ids(stack)
        unchanged = {k for k, t in nested_templates(work).items() if templates.get(k) == t}
        if not unchanged and len(before) > 1:
            raise RuntimeError("adding one database changed every nested template")
        moved = {k: (before[k], after.get(k)) for k in unchanged if after.get(k) != before.get(k)}
        if moved:
            raise RuntimeError(f"untouched nested stacks replaced by adding a database: {moved}")
        moto.cfn.delete_stack(StackName=stack)
        for _ in range(120):
            stacks = moto.cfn.describe_stacks()["Stacks"]
            if not any(s["StackName"] == stack and s["StackStatus"] != "DELETE_COMPLETE" for s in stacks):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("delete did not complete")
    return (f"create, update (+1 database; {len(unchanged)} of {len(before)} nested stacks untouched "
            f"and kept), delete: complete")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--aws", required=True)
    p.add_argument("--synth", required=True)
    p.add_argument("configs", nargs="+")
    args = p.parse_args()
    if not re.match(r"^http://(127\.0\.0\.1|\[::1\]):\d+$", args.endpoint):
        print(f"refusing a non-loopback endpoint {args.endpoint}", file=sys.stderr)
        return 2
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION, AWS_ENDPOINT_URL=args.endpoint)
    env.pop("AWS_PROFILE", None)
    moto = Moto(args.endpoint)
    failed = 0
    for config in args.configs:
        try:
            print(f"{config}: {one(config, args, moto, env)}")
        except Exception as e:  # noqa: BLE001 - report every config, then fail
            failed += 1
            print(f"{config}: FAILED: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
