"""End-to-end check of the rotation function running under the local Lambda emulator.

Drives the function the way Secrets Manager does, but over the emulator's invoke endpoint:
for each engine it creates a database user and a secret, starts a rotation (RotateSecret with a
function ARN the mock does not know leaves the AWSPENDING stub), invokes the four steps, removes
AWSPENDING as the service does, and checks the databases and the stage labels. It also sends
events the function must refuse and checks the stable `errorType` it answers with.

Phase two (--drift-setup, then --drift-check against a function started with the settings file
the setup wrote, as a stack deploys it): the scheduled drift check reports a secret whose
password was changed behind the function's back, not a healthy one, with one login attempt per
database user per run (counted in the servers' own logs).

Run by scripts/lambda-e2e.sh, which starts the emulator and passes its address. Reads the
servers' addresses from the ROTATION_TEST_* variables that scripts/testenv.sh writes.
Exits non-zero on the first failed scenario's end, after running every scenario.

The refresh of applications after a rotation needs the function as a stack runs it (a settings
file that lists the secrets and their `after_rotation`), which it reads once at start: so
`--prepare-refresh STATE --settings-file FILE` first creates, in moto, an ECS cluster and service,
a Lambda function, and two secrets of database users that list both (one whose rotation
succeeds, one whose stored password the server refuses), and writes the settings file; the
script then starts a second emulator with it, and the checks run with `--refresh-invoke-url`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import ssl
import string
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.exceptions
import pg8000.native
import pymysql


# The ARN the local emulator (cargo lambda) invokes the function as; a deployed function has its
# real one.
EMULATOR_FUNCTION_ARN = "function-arn"


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"lambda-e2e: {name} is not set; source .testenv/env (scripts/testenv.sh up) first")
    return value


class Failure(Exception):
    """A check that did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


# ---------------------------------------------------------------- the function, through the emulator


class Function:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    def invoke(self, event: dict) -> tuple[int, object, float]:
        """Sends one event; returns the HTTP status, the decoded payload and the seconds taken."""
        body = json.dumps(event).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        elapsed = time.monotonic() - start
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return status, payload, elapsed

    def step(self, arn: str, token: str, step: str) -> float:
        status, payload, elapsed = self.invoke(
            {"SecretId": arn, "ClientRequestToken": token, "Step": step}
        )
        check(status == 200, f"{step} failed: HTTP {status}: {payload}")
        return elapsed

    def expect_error(self, event: dict, error_type: str) -> None:
        status, payload, _ = self.invoke(event)
        check(status != 200, f"event {event} should fail with {error_type}, got HTTP 200: {payload}")
        got = payload.get("errorType") if isinstance(payload, dict) else None
        check(got == error_type, f"event {event}: errorType `{got}`, expected `{error_type}` ({payload})")


# ---------------------------------------------------------------- databases


class Engine:
    """One database server under test: admin access and login checks."""

    def __init__(self, name: str, port: int, admin: str, admin_password: str, ca: str) -> None:
        self.name = name
        self.port = port
        self.admin_user = admin
        self.admin_password = admin_password
        self.ca = ca

    def secret(self, user: str, password: str) -> dict:
        value = {
            "engine": self.name,
            "host": "localhost",
            "port": self.port,
            "username": user,
            "password": password,
            # Not a field the function knows: it must survive the rotation.
            "e2eMarker": "kept-as-is",
        }
        if self.name == "postgres":
            value["dbname"] = "postgres"
        return value

    def _admin(self, pg_sql: str, mysql_sql: str, params: tuple) -> None:
        """Runs one statement as the administrator, over plaintext on loopback."""
        if self.name == "postgres":
            conn = pg8000.native.Connection(
                self.admin_user, host="127.0.0.1", port=self.port,
                password=self.admin_password, database="postgres",
            )
            try:
                conn.run(pg_sql)
            finally:
                conn.close()
        else:
            conn = pymysql.connect(
                host="127.0.0.1", port=self.port, user=self.admin_user,
                password=self.admin_password,
            )
            try:
                with conn.cursor() as cur:
                    cur.execute(mysql_sql, params)
            finally:
                conn.close()

    def create_user(self, user: str, password: str) -> None:
        self._admin(
            f"CREATE ROLE {pg8000.native.identifier(user)} LOGIN "
            f"PASSWORD {pg8000.native.literal(password)}",
            "CREATE USER %s@'%%' IDENTIFIED BY %s",
            (user, password),
        )

    def drop_user(self, user: str) -> None:
        self._admin(
            f"DROP ROLE IF EXISTS {pg8000.native.identifier(user)}",
            "DROP USER IF EXISTS %s@'%%'",
            (user,),
        )

    def login(self, user: str, password: str) -> bool:
        """Whether the credential logs in over verified TLS. Only a refused credential counts as
        False: any other failure (TLS, network) is an error of the test itself."""
        if self.name == "postgres":
            context = ssl.create_default_context(cafile=self.ca)
            try:
                conn = pg8000.native.Connection(
                    user, host="localhost", port=self.port, password=password,
                    database="postgres", ssl_context=context,
                )
            except pg8000.native.DatabaseError as error:
                details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
                if details.get("C") == "28P01":  # invalid_password
                    return False
                raise
            try:
                check(conn.run("SELECT current_user")[0][0] == user, "PostgreSQL: wrong current_user")
            finally:
                conn.close()
            return True
        try:
            conn = pymysql.connect(
                host="localhost", port=self.port, user=user, password=password,
                ssl_ca=self.ca, ssl_verify_cert=True, ssl_verify_identity=True,
            )
        except pymysql.err.OperationalError as error:
            if error.args and error.args[0] == 1045:  # ER_ACCESS_DENIED_ERROR
                return False
            raise
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)")
                check(cur.fetchone()[0] == user, "MariaDB: wrong CURRENT_USER()")
        finally:
            conn.close()
        return True


# ---------------------------------------------------------------- scenarios


def secrets_manager():
    """A client of the Secrets Manager mock the test environment started."""
    return mock_client("secretsmanager")


def mock_client(service: str):
    """A client of the moto server the test environment started (it serves every service)."""
    return boto3.client(
        service,
        endpoint_url=env("ROTATION_TEST_SM_ENDPOINT"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.fn = Function(args.invoke_url, args.timeout)
        self.refresh_url = args.refresh_invoke_url
        self.refresh_state = args.refresh_state
        self.refresh_log = args.refresh_log
        self.length = args.password_length
        self.excluded = args.exclude_characters
        self.sm = secrets_manager()
        ca = env("ROTATION_TEST_CA")
        self.engines = [
            Engine("postgres", int(env("ROTATION_TEST_PG_PORT")),
                   env("ROTATION_TEST_PG_ADMIN_USER"), env("ROTATION_TEST_PG_ADMIN_PASSWORD"), ca),
            Engine("mariadb", int(env("ROTATION_TEST_MARIADB_PORT")),
                   env("ROTATION_TEST_MARIADB_ADMIN_USER"),
                   env("ROTATION_TEST_MARIADB_ADMIN_PASSWORD"), ca),
        ]
        self.cleanup: list = []

    def create_secret(self, value: dict) -> str:
        out = self.sm.create_secret(Name=f"lambda-e2e-{secrets.token_hex(4)}",
                                    SecretString=json.dumps(value))
        arn = out["ARN"]
        self.cleanup.append(lambda: self.sm.delete_secret(SecretId=arn,
                                                          ForceDeleteWithoutRecovery=True))
        return arn

    def stages(self, arn: str) -> dict:
        return self.sm.describe_secret(SecretId=arn).get("VersionIdsToStages", {})

    def staged(self, arn: str, stage: str) -> dict:
        out = self.sm.get_secret_value(SecretId=arn, VersionStage=stage)
        return json.loads(out["SecretString"])

    def start_rotation(self, arn: str) -> str:
        token = str(uuid.uuid4())
        try:
            self.sm.rotate_secret(
                SecretId=arn,
                ClientRequestToken=token,
                # The ARN the emulator invokes the function as: the function refuses a secret
                # whose rotation function is another one.
                RotationLambdaARN=EMULATOR_FUNCTION_ARN,
                RotationRules={"AutomaticallyAfterDays": 30},
            )
        except botocore.exceptions.ClientError:
            pass  # expected: the mock cannot call a function it does not know
        else:
            raise Failure("RotateSecret succeeded; the mock should not find the function")
        stages = self.stages(arn)
        check(stages.get(token) == ["AWSPENDING"],
              f"RotateSecret should leave an AWSPENDING stub for {token}: {stages}")
        return token

    def rotation(self, engine: Engine) -> str:
        user = f"e2e_{secrets.token_hex(4)}"
        old = "Init-" + secrets.token_hex(12)
        engine.create_user(user, old)
        self.cleanup.append(lambda: engine.drop_user(user))
        check(engine.login(user, old), f"{engine.name}: the initial password should log in")
        arn = self.create_secret(engine.secret(user, old))

        token = self.start_rotation(arn)
        timings = []
        for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
            timings.append(f"{step} {self.fn.step(arn, token, step):.2f}s")
        # What the service does once finishSecret has succeeded.
        self.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING",
                                            RemoveFromVersionId=token)

        stages = self.stages(arn)
        check(stages.get(token) == ["AWSCURRENT"],
              f"{engine.name}: the new version should be AWSCURRENT only: {stages}")
        current = self.staged(arn, "AWSCURRENT")
        previous = self.staged(arn, "AWSPREVIOUS")
        new = current["password"]
        check(new != old, f"{engine.name}: the password did not change")
        check(previous["password"] == old, f"{engine.name}: AWSPREVIOUS is not the old password")
        check(len(new) == self.length,
              f"{engine.name}: new password has {len(new)} characters, PASSWORD_LENGTH is {self.length}")
        bad = sorted(set(new) & set(self.excluded))
        check(not bad, f"{engine.name}: new password contains excluded characters {bad}")
        check(current["username"] == user, f"{engine.name}: username changed")
        check(current.get("e2eMarker") == "kept-as-is", f"{engine.name}: an unknown field was lost")
        check(engine.login(user, new), f"{engine.name}: the new AWSCURRENT does not log in")
        check(not engine.login(user, old), f"{engine.name}: the old password still logs in")
        return ", ".join(timings)

    def refresh(self) -> str:
        """The applications a stack lists in `after_rotation`, through the second emulator (the
        function with a settings file): a rotation that fails (setSecret: the stored password is
        refused) changes neither the ECS service nor the Lambda function; one that succeeds gives
        the service a new deployment and the function a description naming the new version, and
        prints one metric line per kind of application. moto models forceNewDeployment by giving
        the service's PRIMARY deployment a new id and creation time (a real ECS service gets a
        new deployment beside the old one until it is drained)."""
        with open(self.refresh_state) as f:
            state = json.load(f)
        fn = Function(self.refresh_url, self.fn.timeout)
        ecs, lam = mock_client("ecs"), mock_client("lambda")
        engine = self.engines[0]
        self.cleanup.append(lambda: engine.drop_user(state["user"]))
        self.cleanup.append(lambda: engine.drop_user(state["broken_user"]))

        def deployment() -> tuple[str, object]:
            service = ecs.describe_services(cluster=state["cluster"],
                                            services=[state["service"]])["services"][0]
            primary = [d for d in service["deployments"] if d["status"] == "PRIMARY"]
            check(len(primary) == 1, f"one PRIMARY deployment expected: {service['deployments']}")
            return primary[0]["id"], primary[0]["createdAt"]

        def configuration() -> tuple[str, str]:
            out = lam.get_function_configuration(FunctionName=state["function"])
            return out.get("Description", ""), out["LastModified"]

        before = (deployment(), configuration())
        check(before[1][0] == "Orders worker", f"unexpected initial description: {before[1]}")

        # A rotation that fails: setSecret cannot log in with the stored password.
        broken = state["broken_secret"]
        token = self.start_rotation(broken)
        fn.step(broken, token, "createSecret")
        status, payload, _ = fn.invoke({"SecretId": broken, "ClientRequestToken": token,
                                        "Step": "setSecret"})
        check(status != 200, f"setSecret of the broken secret should fail: {payload}")
        check((deployment(), configuration()) == before,
              "a failed rotation changed the service or the function")

        # A rotation that succeeds.
        arn = state["secret"]
        old = self.staged(arn, "AWSCURRENT")["password"]
        token = self.start_rotation(arn)
        for step in ("createSecret", "setSecret", "testSecret"):
            fn.step(arn, token, step)
            check((deployment(), configuration()) == before,
                  f"{step} refreshed an application before AWSCURRENT moved")
        fn.step(arn, token, "finishSecret")
        check("AWSCURRENT" in self.stages(arn).get(token, []),
              f"the new version should be AWSCURRENT: {self.stages(arn)}")
        after_deployment, after_configuration = deployment(), configuration()
        check(after_deployment[0] != before[0][0],
              f"the service has no new deployment: {before[0]} then {after_deployment}")
        marker = f"Orders worker [secret rotated: version {token}]"
        check(after_configuration[0] == marker,
              f"the function's description should be `{marker}`: {after_configuration}")
        new = self.staged(arn, "AWSCURRENT")["password"]
        check(engine.login(state["user"], new) and not engine.login(state["user"], old),
              "the rotation itself did not take")

        # Secrets Manager retries finishSecret after a lost answer: the function's description
        # already names this version and is left alone.
        fn.step(arn, token, "finishSecret")
        check(configuration()[0] == marker, "a retried finishSecret rewrote the description")

        # One metric line per kind for the rotation that refreshed, none for the failed one.
        with open(self.refresh_log, encoding="utf-8", errors="replace") as f:
            log = f.read()
        for password in (old, new):
            check(password not in log, "the function's log holds a password")
        names = {self.sm.describe_secret(SecretId=a)["Name"]: a for a in (arn, broken)}
        lines = []
        for line in log.splitlines():
            line = line.strip()
            if line.startswith("{") and '"Refreshed"' in line:
                lines.append(json.loads(line))
        ok_name = next(n for n, a in names.items() if a == arn)
        kinds = sorted((m["TargetKind"], m["Refreshed"], m["RefreshFailed"])
                       for m in lines if m["SecretName"] == ok_name)
        # Two finishSecret invocations, each counting both kinds as refreshed.
        check(kinds == [("ecs-service", 1, 0)] * 2 + [("lambda-function", 1, 0)] * 2,
              f"refresh metric lines: {lines}")
        check(all(m["SecretName"] == ok_name for m in lines),
              f"the failed rotation printed a refresh line: {lines}")
        return (f"deployment {before[0][0][-6:]} -> {after_deployment[0][-6:]}, "
                f"description marked, {len(lines)} refresh metric lines")

    def bad_events(self) -> str:
        engine = self.engines[0]
        # A step name from the wrong spelling the original article used.
        self.fn.expect_error(
            {"SecretId": "anything", "ClientRequestToken": str(uuid.uuid4()), "Step": "create"},
            "InvalidEvent",
        )
        # A token that is not a version of the secret: refused before any database work.
        arn = self.create_secret(engine.secret("nobody", "unused-Pa55"))
        self.fn.expect_error(
            {"SecretId": arn, "ClientRequestToken": str(uuid.uuid4()), "Step": "createSecret"},
            "UnknownVersion",
        )
        # A secret whose rotation was turned off (RotationEnabled false): refused too. A secret
        # never set up for rotation has no RotationEnabled at all, and AWS's templates go on.
        token = self.start_rotation(arn)
        self.sm.cancel_rotate_secret(SecretId=arn)
        self.fn.expect_error(
            {"SecretId": arn, "ClientRequestToken": token, "Step": "createSecret"},
            "RotationDisabled",
        )
        # A secret whose rotation function is another function: refused before its value is
        # read or any login is made.
        other = self.create_secret(engine.secret("nobody", "unused-Pa55"))
        token = str(uuid.uuid4())
        try:
            self.sm.rotate_secret(
                SecretId=other, ClientRequestToken=token,
                RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:someone-else",
                RotationRules={"AutomaticallyAfterDays": 30},
            )
        except botocore.exceptions.ClientError:
            pass  # the mock cannot call a function it does not know; the stub stays
        self.fn.expect_error(
            {"SecretId": other, "ClientRequestToken": token, "Step": "createSecret"},
            "SecretNotConfigured",
        )
        return "InvalidEvent, UnknownVersion, RotationDisabled and SecretNotConfigured"

    def synth_preflight(self) -> str:
        """`synth preflight`, the built binary, against the function under the emulator: a
        config of two databases, secrets of the mock, one whose password logs in and one whose
        password the server refuses. The reports come back in config order, the refused login is
        a failed `login` check with a fix, the exit code is 1 (problems, every invocation
        answered), and no password appears in anything the command prints."""
        import subprocess
        import tempfile
        import urllib.parse

        # The binary scripts/lambda-e2e.sh built or was given.
        synth = os.environ.get("SYNTH_BIN", "")
        if not synth:
            raise Failure("SYNTH_BIN is not set: run the checks through scripts/lambda-e2e.sh")

        engine = self.engines[0]
        good_user, bad_user = f"e2e_{secrets.token_hex(4)}", f"e2e_{secrets.token_hex(4)}"
        good = "Pre-" + secrets.token_hex(12)
        bad_real, bad_stored = "Pre-" + secrets.token_hex(12), "Wrong-" + secrets.token_hex(12)
        for user, password in ((good_user, good), (bad_user, bad_real)):
            engine.create_user(user, password)
            self.cleanup.append(lambda user=user: engine.drop_user(user))
        good_arn = self.create_secret(engine.secret(good_user, good))
        bad_arn = self.create_secret(engine.secret(bad_user, bad_stored))

        def database(name: str, arn: str) -> str:
            return (f"  - name: {name}\n    secret_arn: {arn}\n    engine: {engine.name}\n"
                    f"    port: {engine.port}\n    strategy: single-user\n"
                    f"    schedule:\n      expression: rate(30 days)\n")

        config = (
            "name: e2e-preflight\n"
            "network:\n  vpc_id: vpc-0123456789abcdef0\n"
            "  subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]\n"
            "  database_security_group_id: sg-0123456789abcdef0\n"
            "  secrets_manager_endpoint:\n    create: true\n"
            "code:\n  function:\n    path: bootstrap.zip\n  layer:\n    path: layer.zip\n"
            "notifications:\n  create_topic: true\n"
            "databases:\n" + database("good", good_arn) + database("refused", bad_arn)
        )
        url = urllib.parse.urlsplit(self.fn.url)
        # CloudTrail is the mock too (no trail there): synth preflight reports that the
        # stack's failure rule would never fire.
        env = dict(os.environ, AWS_EC2_METADATA_DISABLED="true",
                   AWS_ENDPOINT_URL_CLOUDTRAIL=os.environ["ROTATION_TEST_SM_ENDPOINT"])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "preflight.yaml")
            with open(path, "w") as f:
                f.write(config)
            base = [synth, "preflight", path, "--function-name", "bootstrap",
                    "--endpoint-url", f"{url.scheme}://{url.netloc}"]
            runs = [subprocess.run(base + extra, capture_output=True, text=True, env=env,
                                   timeout=2 * self.fn.timeout)
                    for extra in (["--json"], [])]
        for run in runs:
            printed = run.stdout + run.stderr
            for password in (good, bad_real, bad_stored):
                check(password not in printed, "synth preflight printed a password")
            check(run.returncode == 1,
                  f"synth preflight exited {run.returncode}, expected 1 (a database has "
                  f"problems, every invocation answered):\n{printed}")
        check("cloudtrail: fail  no trail logs" in runs[0].stderr
              and "cloudtrail: fail  no trail logs" in runs[1].stdout,
              f"synth preflight should say no trail logs the Region:\n{runs[1].stdout}")
        reports = json.loads(runs[0].stdout)
        check([r.get("SecretId") for r in reports] == [good_arn, bad_arn],
              f"reports not in config order: {reports}")
        for report in reports:
            check(report.get("Action") == "preflight" and "InvocationError" not in report,
                  f"not a preflight report: {report}")
            statuses = {c["Check"]: c for c in report.get("Checks", [])}
            check(statuses.get("secret-value", {}).get("Status") == "pass",
                  f"secret-value should pass: {report}")
        good_login = {c["Check"]: c for c in reports[0]["Checks"]}.get("login", {})
        bad_login = {c["Check"]: c for c in reports[1]["Checks"]}.get("login", {})
        check(good_login.get("Status") == "pass", f"the good password should log in: {reports[0]}")
        check(bad_login.get("Status") == "fail" and bad_login.get("Fix"),
              f"the refused password should fail `login` with a fix: {reports[1]}")
        check(reports[1].get("Ok") is False and reports[1].get("Problems", 0) >= 1,
              f"the refused database should have problems: {reports[1]}")
        rows = [line.split()[0] for line in runs[1].stdout.splitlines()[1:3]]
        check(rows == ["good", "refused"], f"table rows not in config order:\n{runs[1].stdout}")
        check("fail  login:" in runs[1].stdout, f"the table lacks the failed login:\n{runs[1].stdout}")
        return f"{len(reports)} reports; exit 1; refused login: {bad_login.get('Detail')}"

    def operator_actions(self) -> str:
        """Recover and audit through the binary, and the metric line each step prints: the
        known lockout is built (setSecret ran, then AWSPENDING moved to a new token), recover
        proposes promoting the version the database has and, applied, AWSCURRENT logs in again;
        the audit answers its report; the emulator's log holds one Embedded Metric Format line
        per step, naming the secret, with no password anywhere."""
        engine = self.engines[0]
        user = f"e2e_{secrets.token_hex(4)}"
        old = "Ops-" + secrets.token_hex(12)
        engine.create_user(user, old)
        self.cleanup.append(lambda: engine.drop_user(user))
        arn = self.create_secret(engine.secret(user, old))
        token = self.start_rotation(arn)
        for step in ("createSecret", "setSecret"):
            self.fn.step(arn, token, step)
        pending = self.staged(arn, "AWSPENDING")["password"]
        # A new rotation takes AWSPENDING away: the database's password is now unlabelled.
        self.sm.put_secret_value(SecretId=arn, ClientRequestToken=str(uuid.uuid4()),
                                 SecretString=json.dumps(engine.secret(user, "Stray-Pa55-x")),
                                 VersionStages=["AWSPENDING"])
        check(not engine.login(user, old), "the lockout was not built")

        status, report, _ = self.fn.invoke({"Action": "recover", "SecretId": arn})
        check(status == 200 and isinstance(report, dict), f"recover failed: {status} {report}")
        proposal = report.get("Proposal", {})
        check(proposal.get("Kind") == "promote" and proposal.get("VersionId") == token,
              f"recover should propose promoting {token}: {report}")
        check(report.get("Applied") is False, f"a dry run applied something: {report}")
        status, applied, _ = self.fn.invoke({"Action": "recover", "SecretId": arn, "Apply": True})
        check(status == 200 and applied.get("Applied") is True, f"apply failed: {applied}")
        current = self.staged(arn, "AWSCURRENT")["password"]
        check(current == pending and engine.login(user, current),
              "after recovery AWSCURRENT should hold the database's password")

        # The same warm instance ran the steps: its preflight must read the stages as they are
        # now, not as the last step's DescribeSecret saw them.
        status, preflight, _ = self.fn.invoke({"Action": "preflight", "SecretId": arn})
        login = {c["Check"]: c for c in preflight.get("Checks", [])}.get("login", {})
        check(status == 200 and login.get("Status") == "pass",
              f"after recovery the preflight's login should pass: {preflight}")

        status, audit, _ = self.fn.invoke({"Action": "audit"})
        check(status == 200 and audit.get("Action") == "audit"
              and isinstance(audit.get("Secrets"), int) and isinstance(audit.get("Overdue"), list),
              f"audit failed: {status} {audit}")
        # A secret that names this function (the ARN the emulator gives it) and whose rotation
        # was then turned off: the next audit counts it as overdue.
        function_arn = audit["FunctionArn"]
        off = self.create_secret(engine.secret("nobody", "unused-Pa55"))
        try:
            self.sm.rotate_secret(SecretId=off, RotationLambdaARN=function_arn,
                                  RotationRules={"ScheduleExpression": "rate(30 days)"})
        except botocore.exceptions.ClientError:
            pass  # the mock cannot invoke the function; the rotation settings stay
        self.sm.cancel_rotate_secret(SecretId=off)
        status, audit, _ = self.fn.invoke({"Action": "audit"})
        overdue = [o for o in audit.get("Overdue", []) if o.get("SecretId") == off]
        check(status == 200 and audit.get("Secrets", 0) >= 1 and len(overdue) == 1
              and "turned off" in overdue[0].get("Reason", ""),
              f"the audit should find the secret whose rotation was turned off: {audit}")

        for text in (json.dumps(report), json.dumps(applied), json.dumps(preflight),
                     json.dumps(audit)):
            for password in (old, pending):
                check(password not in text, "a report holds a password")
        name = self.sm.describe_secret(SecretId=arn)["Name"]
        log_path = os.environ.get("LAMBDA_E2E_WATCH_LOG", "")
        metric_lines = []
        if log_path and os.path.exists(log_path):
            with open(log_path, encoding="utf-8", errors="replace") as f:
                log = f.read()
            for password in (old, pending):
                check(password not in log, "the function's log holds a password")
            for line in log.splitlines():
                line = line.strip()
                if line.startswith("{") and '"_aws"' in line:
                    metric = json.loads(line)
                    if metric.get("SecretName") == name:
                        metric_lines.append(metric)
            steps = sorted(m["Step"] for m in metric_lines)
            check(steps == ["createSecret", "setSecret"],
                  f"one metric line per step of {name} expected: {metric_lines}")
            for metric in metric_lines:
                check(metric["StepSucceeded"] == 1 and metric["Strategy"] == "single-user"
                      and metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SecretsRotation",
                      f"unexpected metric line: {metric}")
        else:
            raise Failure("LAMBDA_E2E_WATCH_LOG is not set: cannot read the metric lines")
        audit_lines = [line for line in log.splitlines() if '"OverdueSecrets"' in line]
        check(len(audit_lines) >= 2, f"each audit prints its metric line: {audit_lines}")
        return (f"recover promoted {token[:8]}, audit found {len(audit['Overdue'])} overdue "
                f"of {audit['Secrets']}, {len(metric_lines)} step metric lines")

    def main(self) -> int:
        scenarios = [(f"{e.name} rotation", lambda e=e: self.rotation(e)) for e in self.engines]
        scenarios.append(("errors", self.bad_events))
        scenarios.append(("synth preflight", self.synth_preflight))
        scenarios.append(("operator actions", self.operator_actions))
        if self.refresh_url:
            scenarios.append(("refresh after rotation", self.refresh))
        passed = failed = 0
        for name, scenario in scenarios:
            start = time.monotonic()
            try:
                detail = scenario()
            except Failure as failure:
                failed += 1
                print(f"lambda-e2e: FAIL {name}: {failure}", flush=True)
            except Exception:  # noqa: BLE001 - any other error fails the scenario loudly
                failed += 1
                print(f"lambda-e2e: FAIL {name}: unexpected error", flush=True)
                traceback.print_exc()
            else:
                passed += 1
                print(f"lambda-e2e: ok   {name} ({time.monotonic() - start:.1f}s: {detail})",
                      flush=True)
        for undo in reversed(self.cleanup):
            try:
                undo()
            except Exception as error:  # noqa: BLE001 - cleanup is best effort
                print(f"lambda-e2e: cleanup: {error}", file=sys.stderr)
        print(f"lambda-e2e: {passed} passed, {failed} failed", flush=True)
        return 1 if failed else 0


def prepare_refresh(state_path: str, settings_path: str) -> None:
    """Creates what the refresh scenario rotates and refreshes, and the settings file of the
    function that runs it (see the module's doc)."""
    sm, ecs, lam, iam = (mock_client(s) for s in ("secretsmanager", "ecs", "lambda", "iam"))
    engine = Engine("postgres", int(env("ROTATION_TEST_PG_PORT")),
                    env("ROTATION_TEST_PG_ADMIN_USER"), env("ROTATION_TEST_PG_ADMIN_PASSWORD"),
                    env("ROTATION_TEST_CA"))
    suffix = secrets.token_hex(4)
    ecs.put_account_setting(name="serviceLongArnFormat", value="enabled")
    cluster = f"e2e-{suffix}"
    ecs.create_cluster(clusterName=cluster)
    family = f"e2e-orders-{suffix}"
    ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "app", "image": "orders:1", "memory": 128}])
    service = ecs.create_service(cluster=cluster, serviceName="orders", taskDefinition=family,
                                 desiredCount=1)["service"]["serviceArn"]
    check(f":service/{cluster}/orders" in service, f"not a long-format service ARN: {service}")
    role = iam.create_role(RoleName=f"e2e-orders-worker-{suffix}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))
    import io
    import zipfile
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return None\n")
    function = lam.create_function(
        FunctionName=f"e2e-orders-worker-{suffix}", Runtime="python3.12",
        Role=role["Role"]["Arn"], Handler="index.handler", Code={"ZipFile": code.getvalue()},
        Description="Orders worker")["FunctionArn"]

    arns = {}
    for key, stored_ok in (("secret", True), ("broken_secret", False)):
        user = f"e2e_{secrets.token_hex(4)}"
        password = "Refresh-" + secrets.token_hex(12)
        engine.create_user(user, password)
        stored = password if stored_ok else "Wrong-" + secrets.token_hex(12)
        value = engine.secret(user, stored)
        arns[key] = sm.create_secret(Name=f"lambda-e2e-refresh-{secrets.token_hex(4)}",
                                     SecretString=json.dumps(value))["ARN"]
        arns["user" if stored_ok else "broken_user"] = user
    after = {"ecs_services": [service], "lambda_functions": [function]}
    settings = {"format": 1, "secrets": {
        arns[k]: {"strategy": "single-user", "after_rotation": after}
        for k in ("secret", "broken_secret")}}
    with open(settings_path, "w") as f:
        json.dump(settings, f)
    with open(state_path, "w") as f:
        json.dump(dict(arns, cluster=cluster, service=service, function=function), f)


# ---------------------------------------------------------------- the drift check, with the stack's settings


def log_lines(path: str, start: int) -> list[str]:
    """The lines a server log gained since byte `start`."""
    with open(path, "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace").splitlines()


def log_size(path: str) -> int:
    return os.path.getsize(path)


def login_attempts(engine: Engine, lines: list[str], user: str) -> int:
    """Login attempts of `user` a server log records: PostgreSQL's log_connections and
    authentication failures, MariaDB's general log `Connect` lines (granted or denied)."""
    if engine.name == "postgres":
        return sum(
            1 for line in lines
            if f"connection authorized: user={user} " in line
            or f'password authentication failed for user "{user}"' in line
        )
    # One connection may write two lines (the attempt, then "Access denied"): count the
    # connection ids.
    ids = set()
    for line in lines:
        match = re.search(r"(\d+) Connect\t(.*)", line)
        if match and (match.group(2).startswith(f"{user}@") or f"'{user}'@" in match.group(2)):
            ids.add(match.group(1))
    return len(ids)


class Drift:
    """Phase two: the function started with a settings file, as the stack deploys it."""

    def __init__(self, state: str) -> None:
        self.state_path = state
        self.sm = secrets_manager()
        ca = env("ROTATION_TEST_CA")
        self.engines = {
            "postgres": Engine("postgres", int(env("ROTATION_TEST_PG_PORT")),
                               env("ROTATION_TEST_PG_ADMIN_USER"),
                               env("ROTATION_TEST_PG_ADMIN_PASSWORD"), ca),
            "mariadb": Engine("mariadb", int(env("ROTATION_TEST_MARIADB_PORT")),
                              env("ROTATION_TEST_MARIADB_ADMIN_USER"),
                              env("ROTATION_TEST_MARIADB_ADMIN_PASSWORD"), ca),
        }
        self.logs = {"postgres": env("ROTATION_TEST_PG_LOG"),
                     "mariadb": env("ROTATION_TEST_MARIADB_LOG")}

    def setup(self, settings_path: str) -> int:
        """Per engine a healthy secret and one whose password is then changed by hand, with
        rotation enabled for the emulator's function and no rotation under way; writes the
        settings file the second emulator reads and the state the check reads."""
        entries = []
        for engine in self.engines.values():
            for kind in ("healthy", "drifted"):
                user = f"e2e_drift_{kind}_{secrets.token_hex(3)}"
                password = "Pw-" + secrets.token_urlsafe(18)
                engine.create_user(user, password)
                arn = self.sm.create_secret(
                    Name=f"lambda-e2e-drift-{secrets.token_hex(4)}",
                    SecretString=json.dumps(engine.secret(user, password)),
                )["ARN"]
                token = str(uuid.uuid4())
                try:
                    self.sm.rotate_secret(SecretId=arn, ClientRequestToken=token,
                                          RotationLambdaARN=EMULATOR_FUNCTION_ARN,
                                          RotationRules={"AutomaticallyAfterDays": 30})
                except botocore.exceptions.ClientError:
                    pass  # the mock cannot invoke the function; rotation stays enabled
                # No rotation under way: the stub version loses its label.
                self.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING",
                                                    RemoveFromVersionId=token)
                if kind == "drifted":
                    engine._admin(
                        f"ALTER ROLE {pg8000.native.identifier(user)} PASSWORD "
                        f"{pg8000.native.literal('Changed-' + secrets.token_hex(8))}",
                        "ALTER USER %s@'%%' IDENTIFIED BY %s",
                        (user, "Changed-" + secrets.token_hex(8)),
                    )
                entries.append({"engine": engine.name, "kind": kind, "user": user, "arn": arn})
        settings = {"format": 1, "secrets": {e["arn"]: {"strategy": "single-user"} for e in entries}}
        with open(settings_path, "w") as f:
            json.dump(settings, f)
        with open(self.state_path, "w") as f:
            json.dump(entries, f)
        print(f"lambda-e2e: drift check set up: {len(entries)} secrets", flush=True)
        return 0

    def check(self, url: str, timeout: float, watch_log: str) -> int:
        with open(self.state_path) as f:
            entries = json.load(f)
        fn = Function(url, timeout)
        failed = 0
        try:
            for run in (1, 2):
                marks = {name: log_size(path) for name, path in self.logs.items()}
                status, report, elapsed = fn.invoke({"Action": "drift-check"})
                check(status == 200, f"drift-check failed: HTTP {status}: {report}")
                check(report["Action"] == "drift-check", f"not a drift report: {report}")
                results = {r["SecretId"]: r for r in report["Results"]}
                for e in entries:
                    got = results.get(e["arn"])
                    check(got is not None, f"{e['arn']} is not in the report")
                    want = "ok" if e["kind"] == "healthy" else "drifted"
                    check(got["Status"] == want,
                          f"{e['engine']} {e['kind']}: status {got['Status']}, expected {want}: {got}")
                    if want == "drifted":
                        check(got["Problems"][0]["Check"] == "login", f"{got}")
                check(report["Drifted"] == 2 and report["Checked"] == len(entries), f"{report}")
                text = json.dumps(report)
                check("Pw-" not in text and "Changed-" not in text, "a password in the report")
                # One login attempt per user per run, refused or not.
                time.sleep(0.5)  # the servers write their logs asynchronously
                for e in entries:
                    engine = self.engines[e["engine"]]
                    lines = log_lines(self.logs[e["engine"]], marks[e["engine"]])
                    n = login_attempts(engine, lines, e["user"])
                    check(n == 1, f"run {run}: {e['engine']} {e['kind']}: {n} login attempts")
                print(f"lambda-e2e: ok   drift check run {run} ({elapsed:.1f}s: "
                      f"{report['Checked']} checked, {report['Drifted']} drifted, one login per user)",
                      flush=True)
            # The metric lines the alarm reads.
            with open(watch_log, errors="replace") as f:
                metric_lines = [json.loads(line[line.index("{"):]) for line in f
                                if '"DriftedSecrets"' in line and '"_aws"' in line]
            check(len(metric_lines) >= 2 and metric_lines[-1]["DriftedSecrets"] == 2,
                  f"DriftedSecrets lines: {metric_lines[-2:]}")
        except Failure as failure:
            failed += 1
            print(f"lambda-e2e: FAIL drift check: {failure}", flush=True)
        for e in entries:
            try:
                self.engines[e["engine"]].drop_user(e["user"])
                self.sm.delete_secret(SecretId=e["arn"], ForceDeleteWithoutRecovery=True)
            except Exception as error:  # noqa: BLE001 - cleanup is best effort
                print(f"lambda-e2e: cleanup: {error}", file=sys.stderr)
        return 1 if failed else 0


def main() -> int:
    if "--prepare-refresh" in sys.argv:
        prep = argparse.ArgumentParser(description="prepare the refresh scenario")
        prep.add_argument("--prepare-refresh", required=True, help="where to write its state")
        prep.add_argument("--settings-file", required=True, help="the function's settings file")
        args = prep.parse_args()
        prepare_refresh(args.prepare_refresh, args.settings_file)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drift-setup", metavar="STATE",
                        help="phase two: create the drift check's secrets, write STATE and --settings")
    parser.add_argument("--settings", help="the settings file --drift-setup writes")
    parser.add_argument("--drift-check", metavar="STATE",
                        help="phase two: invoke the drift check on the secrets STATE lists")
    parser.add_argument("--invoke-url",
                        help="the emulator's invoke URL for the function")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds one invocation may take")
    parser.add_argument("--password-length", type=int,
                        help="PASSWORD_LENGTH the function was started with")
    parser.add_argument("--exclude-characters", default="",
                        help="EXCLUDE_CHARACTERS the function was started with")
    parser.add_argument("--refresh-invoke-url", default="",
                        help="the invoke URL of the function started with the refresh settings")
    parser.add_argument("--refresh-state", default="", help="what --prepare-refresh wrote")
    parser.add_argument("--refresh-log", default="", help="that function's emulator log")
    args = parser.parse_args()
    if args.drift_setup:
        return Drift(args.drift_setup).setup(args.settings)
    if args.drift_check:
        return Drift(args.drift_check).check(args.invoke_url, args.timeout,
                                              os.environ.get("LAMBDA_E2E_WATCH_LOG", ""))
    if not args.invoke_url or args.password_length is None:
        parser.error("--invoke-url and --password-length are required")
    return Run(args).main()


if __name__ == "__main__":
    sys.exit(main())
