"""A guided demo of the rotation function running under the local Lambda emulator.

For each scenario (an engine and a rotation strategy) it creates a database user (and, for
alternating users, a master user) with a random password, stores the RDS secret(s) in the
Secrets Manager mock, starts a rotation there, invokes the function's four steps the way
Secrets Manager does, shows the stage labels before and after, and logs in with the result.
Then it asks the function for its preflight report of each secret, removes everything it
created, and checks that no password appeared in its own output.

Run by scripts/demo.sh (`make demo`), which starts the servers and the emulator. Reads the
servers' addresses from the ROTATION_TEST_* variables that scripts/testenv.sh writes.
Passwords are never printed: only `••••••••` and a length. DEMO_PASSWORDS_FILE=path writes
every password the demo knew to that file (mode 0600), to check a captured output with
`grep -F -f path`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import ssl
import string
import sys
import textwrap
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field

import botocore.exceptions
import pg8000.native
import pymysql

# From the end-to-end test: one event over the emulator's invoke endpoint, and the mock's client.
from lambda_e2e import Function, secrets_manager

# ---------------------------------------------------------------- output

UTF8 = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "") == "utf8"
COLOR = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
MASK = "••••••••" if UTF8 else "********"
OK = "✓" if UTF8 else "ok"
BAD = "✗" if UTF8 else "X"
SKIP = "–" if UTF8 else "-"
ARROW = "▸" if UTF8 else ">"
ELLIPSIS = "…" if UTF8 else "..."
T0_MS = int(os.environ.get("DEMO_T0_MS") or time.time() * 1000)
# The ARN the local emulator invokes the function as (a deployed function has its real one):
# the rotation is configured with it, so the preflight finds the secret rotated by this function.
EMULATOR_FUNCTION_ARN = "function-arn"


def paint(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if COLOR else text


class Output:
    """Everything the demo prints goes through here, so it can check its own output at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _emit(self, text: str) -> None:
        self.lines.append(text)
        try:
            print(text, flush=True)
        except OSError:
            # The reader went away (`make demo | head`): go on quietly, so the cleanup runs.
            sys.stdout = open(os.devnull, "w")

    def stamp(self) -> str:
        elapsed = (time.time() * 1000 - T0_MS) / 1000
        return f"[{elapsed:6.1f}s]"

    def stage(self, text: str) -> None:
        self._emit(f"{self.stamp()} {paint(ARROW + ' ' + text, '1')}")

    def line(self, text: str = "", indent: int = 3) -> None:
        self._emit(f"{self.stamp()} {' ' * indent}{text}" if text else "")

    def ok(self, text: str) -> None:
        self.line(f"{paint(OK, '32')} {text}")

    def bad(self, text: str) -> None:
        self.line(f"{paint(BAD, '31')} {text}")

    def note(self, text: str) -> None:
        self.line(f"{paint(SKIP, '33')} {text}")

    def table(self, headers: list[str], rows: list[list[str]], indent: int = 5) -> None:
        widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        self.line(paint(fmt.format(*headers).rstrip(), "2"), indent)
        for row in rows:
            self.line(fmt.format(*row).rstrip(), indent)


out = Output()


def masked(password: object) -> str:
    if not isinstance(password, str):
        return "(none)"
    return f"{MASK} ({len(password)} chars)"


def short(version_id: str) -> str:
    return version_id[:8] + ELLIPSIS


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise Problem(f"{name} is not set; run the demo through `make demo` (scripts/demo.sh)")
    return value


class Problem(Exception):
    """An expected failure: reported on one line, no traceback."""


# ---------------------------------------------------------------- databases


@dataclass
class Engine:
    key: str  # the secret's `engine`
    label: str
    port: int
    admin_user: str
    admin_password: str
    ca: str

    @property
    def postgres(self) -> bool:
        return self.key == "postgres"

    def secret(self, user: str, password: str) -> dict:
        value = {"engine": self.key, "host": "localhost", "port": self.port,
                 "username": user, "password": password}
        if self.postgres:
            value["dbname"] = "postgres"
        return value

    def admin(self, statements: list[tuple[str, tuple]]) -> None:
        """Runs statements as the administrator (plaintext on loopback), in order, on one
        connection. Each is (sql, params); PostgreSQL statements arrive already quoted."""
        if self.postgres:
            conn = pg8000.native.Connection(
                self.admin_user, host="127.0.0.1", port=self.port,
                password=self.admin_password, database="postgres", timeout=15,
            )
            try:
                for sql, _ in statements:
                    conn.run(sql)
            finally:
                conn.close()
        else:
            conn = pymysql.connect(
                host="127.0.0.1", port=self.port, user=self.admin_user,
                password=self.admin_password, connect_timeout=15, autocommit=True,
            )
            try:
                with conn.cursor() as cur:
                    for sql, params in statements:
                        cur.execute(sql, params or None)
            finally:
                conn.close()

    def login(self, user: str, password: str, table: str | None) -> bool:
        """Whether the credential logs in over verified TLS (and, given a table, reads it).
        Only a refused password answers False; any other failure is an error."""
        if self.postgres:
            try:
                conn = pg8000.native.Connection(
                    user, host="localhost", port=self.port, password=password,
                    database="postgres", timeout=15,
                    ssl_context=ssl.create_default_context(cafile=self.ca),
                )
            except pg8000.native.DatabaseError as error:
                details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
                if details.get("C") == "28P01":  # invalid_password
                    return False
                raise Problem(f"PostgreSQL login as {user}: {details.get('M', error)}") from None
            try:
                if conn.run("SELECT session_user")[0][0] != user:
                    raise Problem(f"PostgreSQL: logged in as someone other than {user}")
                if table:
                    conn.run(f"SELECT count(*) FROM {table}")
            finally:
                conn.close()
            return True
        try:
            conn = pymysql.connect(
                host="localhost", port=self.port, user=user, password=password,
                ssl_ca=self.ca, ssl_verify_cert=True, ssl_verify_identity=True,
                connect_timeout=15,
            )
        except pymysql.err.OperationalError as error:
            if error.args and error.args[0] == 1045:  # ER_ACCESS_DENIED_ERROR
                return False
            raise Problem(f"MariaDB login as {user}: {error.args[-1]}") from None
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)")
                if cur.fetchone()[0] != user:
                    raise Problem(f"MariaDB: logged in as someone other than {user}")
                if table:
                    cur.execute(f"SELECT count(*) FROM {table}")
        finally:
            conn.close()
        return True


def new_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(24))


def pg_id(name: str) -> str:
    return pg8000.native.identifier(name)


# ---------------------------------------------------------------- scenarios

STEPS = [
    ("createSecret", "new password generated, stored as AWSPENDING"),
    ("setSecret", None),  # depends on the strategy
    ("testSecret", "a fresh login with AWSPENDING only, and a query"),
    ("finishSecret", "AWSCURRENT moved to the new version"),
]
SET_DETAIL = {
    "single-user": "logged in with AWSCURRENT, changed the user's own password",
    "alternating-users": "the master user set the password of the other user of the pair",
}


@dataclass
class Scenario:
    engine: Engine
    strategy: str
    name: str = ""
    secret_name: str = ""
    arn: str = ""
    master_arn: str = ""
    table: str | None = None
    ok: bool = False
    steps: list = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.engine.label}, {self.strategy.replace('-', ' ')}"


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.fn = Function(args.invoke_url, args.timeout)
        self.settings = args.settings
        self.sm = secrets_manager()
        ca = env("ROTATION_TEST_CA")
        postgres = Engine("postgres", "PostgreSQL", int(env("ROTATION_TEST_PG_PORT")),
                          env("ROTATION_TEST_PG_ADMIN_USER"),
                          env("ROTATION_TEST_PG_ADMIN_PASSWORD"), ca)
        mariadb = Engine("mariadb", "MariaDB", int(env("ROTATION_TEST_MARIADB_PORT")),
                         env("ROTATION_TEST_MARIADB_ADMIN_USER"),
                         env("ROTATION_TEST_MARIADB_ADMIN_PASSWORD"), ca)
        self.scenarios = [Scenario(postgres, "single-user"), Scenario(mariadb, "alternating-users")]
        if not args.quick:
            self.scenarios += [Scenario(postgres, "alternating-users"),
                               Scenario(mariadb, "single-user")]
        # Every password the demo generated or read: never printed, checked for at the end.
        # The administrators' too: they must not show either.
        self.passwords: set[str] = {postgres.admin_password, mariadb.admin_password}
        self.undo: list[tuple[str, object]] = []  # (kind, action), run in reverse
        self.failures = 0

    def invoke(self, event: dict) -> tuple[int, object, float]:
        """One invocation. On Ctrl-C the step in flight is let finish first, so the cleanup
        that follows does not race it (a setSecret creating a user just dropped)."""
        result: dict = {}

        def call() -> None:
            try:
                result["answer"] = self.fn.invoke(event)
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                result["error"] = error

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.1)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            out.note("interrupted: letting the invocation in flight finish, then cleaning up")
            worker.join(self.fn.timeout + 5)
            raise
        if "error" in result:
            raise result["error"]
        return result["answer"]

    # ------------------------------------------------------------ Secrets Manager

    def create_secret(self, name: str, value: dict) -> str:
        arn = self.sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
        self.undo.append(("secret", lambda: self.sm.delete_secret(
            SecretId=arn, ForceDeleteWithoutRecovery=True)))
        return arn

    def versions(self, arn: str) -> list[list[str]]:
        """The table rows of the secret's labelled versions: id, stages, username, password."""
        stages = self.sm.describe_secret(SecretId=arn).get("VersionIdsToStages", {})
        order = {"AWSCURRENT": 0, "AWSPENDING": 1, "AWSPREVIOUS": 2}
        rows = []
        for version, labels in sorted(stages.items(),
                                      key=lambda kv: min(order.get(s, 9) for s in kv[1] or ["x"])):
            if not labels:
                continue
            try:
                value = json.loads(self.sm.get_secret_value(
                    SecretId=arn, VersionId=version)["SecretString"])
            except (botocore.exceptions.ClientError, KeyError, ValueError):
                value = None
            if isinstance(value, dict):
                if isinstance(value.get("password"), str):
                    self.passwords.add(value["password"])
                rows.append([short(version), ", ".join(labels), str(value.get("username", "")),
                             masked(value.get("password"))])
            else:
                rows.append([short(version), ", ".join(labels), "(no value yet)", ""])
        return rows

    def staged(self, arn: str, stage: str) -> dict:
        value = json.loads(self.sm.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])
        if isinstance(value.get("password"), str):
            self.passwords.add(value["password"])
        return value

    def start_rotation(self, arn: str) -> str:
        """RotateSecret, as a schedule would call it. The mock cannot invoke the function (it
        runs under the emulator, not in the mock), so the call fails after leaving the
        AWSPENDING stub and turning rotation on: the demo then plays the service's part and
        invokes the steps itself."""
        token = str(uuid.uuid4())
        try:
            self.sm.rotate_secret(
                SecretId=arn, ClientRequestToken=token,
                RotationLambdaARN=EMULATOR_FUNCTION_ARN,
                RotationRules={"AutomaticallyAfterDays": 30},
            )
        except botocore.exceptions.ClientError:
            pass
        stages = self.sm.describe_secret(SecretId=arn).get("VersionIdsToStages", {})
        if stages.get(token) != ["AWSPENDING"]:
            raise Problem(f"RotateSecret left no AWSPENDING version for the token: {stages}")
        return token

    # ------------------------------------------------------------ setup

    def setup(self, s: Scenario) -> None:
        e = s.engine
        s.name = f"demo_{secrets.token_hex(3)}"
        s.secret_name = f"demo-{e.key}-{s.strategy}-{s.name[5:]}"
        password = new_password()
        self.passwords.add(password)
        user = s.name
        if e.postgres:
            create = [(f"CREATE ROLE {pg_id(user)} LOGIN PASSWORD "
                       f"{pg8000.native.literal(password)}", ())]
            drop = [(f"DROP ROLE IF EXISTS {pg_id(user)}", ())]
        else:
            create = [("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))]
            drop = [("DROP USER IF EXISTS %s@'%%'", (user,))]
        self.undo.append(("database", lambda: e.admin(drop)))
        e.admin(create)
        made = f"user {user}"
        value = e.secret(user, password)

        if s.strategy == "alternating-users":
            master, clone = f"{user}_master", f"{user}_clone"
            master_password = new_password()
            self.passwords.add(master_password)
            s.table = f"{user}.orders"
            if e.postgres:
                statements = [
                    (f"CREATE ROLE {pg_id(master)} LOGIN CREATEROLE PASSWORD "
                     f"{pg8000.native.literal(master_password)}", ()),
                    (f"GRANT {pg_id(user)} TO {pg_id(master)} WITH ADMIN OPTION", ()),
                    (f"CREATE SCHEMA {pg_id(user)}", ()),
                    (f"CREATE TABLE {pg_id(user)}.orders (id int, note text)", ()),
                    (f"GRANT USAGE ON SCHEMA {pg_id(user)} TO {pg_id(user)}", ()),
                    (f"GRANT SELECT, INSERT ON {pg_id(user)}.orders TO {pg_id(user)}", ()),
                ]
                drop = [(f"DROP SCHEMA IF EXISTS {pg_id(user)} CASCADE", ())] + [
                    (f"DROP ROLE IF EXISTS {pg_id(r)}", ()) for r in (clone, user, master)]
            else:
                statements = [
                    ("CREATE USER %s@'%%' IDENTIFIED BY %s", (master, master_password)),
                    ("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (master,)),
                    (f"CREATE DATABASE `{user}`", ()),
                    (f"CREATE TABLE `{user}`.orders (id int, note text)", ()),
                    (f"GRANT SELECT, INSERT ON `{user}`.orders TO %s@'%%'", (user,)),
                ]
                drop = [(f"DROP DATABASE IF EXISTS `{user}`", ())] + [
                    ("DROP USER IF EXISTS %s@'%%'", (r,)) for r in (clone, user, master)]
            self.undo.append(("database", lambda: e.admin(drop)))
            e.admin(statements)
            made += f" (SELECT, INSERT on {s.table}), master user {master}"
            master_arn = self.create_secret(f"{s.secret_name}-master", e.secret(master, master_password))
            value["masterarn"] = master_arn
            s.master_arn = master_arn
        s.arn = self.create_secret(s.secret_name, value)

        out.ok(f"{e.label}: {made}; random passwords")
        shown = dict(value, password=MASK)
        if "masterarn" in shown:
            shown["masterarn"] = f"{ELLIPSIS}:secret:{s.secret_name}-master-{ELLIPSIS}"
        out.ok(f"secret {s.secret_name}: {json.dumps(shown, ensure_ascii=False)}")

    def write_settings(self) -> None:
        """The stack's word on each secret, as synth writes it into the settings layer: which
        secrets the function rotates, with which strategy and master. Written before the first
        invocation; the function starts once the file is in place and reads it then. Written
        whole under another name and renamed, so the function never reads half of it."""
        secrets_ = {}
        for s in self.scenarios:
            if not s.arn:
                continue
            entry = {"strategy": s.strategy}
            if s.master_arn:
                entry["master_secret_arn"] = s.master_arn
            secrets_[s.arn] = entry
        partial = self.settings + ".partial"
        with open(partial, "w", encoding="utf-8") as f:
            json.dump({"format": 1, "secrets": secrets_}, f, indent=1)
        os.replace(partial, self.settings)
        out.ok(f"the stack's settings: {len(secrets_)} secret(s), each with its strategy and master")

    # ------------------------------------------------------------ the rotation

    def rotate(self, s: Scenario, index: int, total: int) -> None:
        e = s.engine
        out.stage(f"rotation {index}/{total}: {s.title} (secret {s.secret_name})")
        out.line("before:")
        out.table(["version", "stages", "username", "password"], self.versions(s.arn))
        old = self.staged(s.arn, "AWSCURRENT")

        token = self.start_rotation(s.arn)
        out.line(f"RotateSecret: Secrets Manager staged version {short(token)} as AWSPENDING; "
                 "the steps, as the service sends them:")
        # One line per step as it completes (fixed columns, so nothing waits for the widest).
        row = "{:<12}  {:>6}  {}  {}"
        out.line(paint(row.format("step", "took", " ", "what happened"), "2"), 5)
        for step, detail in STEPS:
            status, payload, elapsed = self.invoke(
                {"SecretId": s.arn, "ClientRequestToken": token, "Step": step})
            if status != 200:
                kind, message = error_of(payload)
                out.line(row.format(step, f"{elapsed:.2f}s", paint(BAD, "31"), f"{kind}: {message}"), 5)
                raise Problem(f"{step} failed ({kind})")
            out.line(row.format(step, f"{elapsed:.2f}s", paint(OK, "32"),
                                detail or SET_DETAIL[s.strategy]), 5)
        # What the service does once finishSecret has succeeded.
        self.sm.update_secret_version_stage(SecretId=s.arn, VersionStage="AWSPENDING",
                                            RemoveFromVersionId=token)
        out.line("after:")
        out.table(["version", "stages", "username", "password"], self.versions(s.arn))

        current = self.staged(s.arn, "AWSCURRENT")
        reads = f" and reads {s.table}" if s.table else ""
        if not e.login(current["username"], current["password"], s.table):
            raise Problem(f"the new AWSCURRENT ({current['username']}) does not log in")
        out.ok(f"AWSCURRENT ({current['username']}, new password) logs in over verified TLS{reads}")
        if s.strategy == "single-user":
            if e.login(old["username"], old["password"], None):
                raise Problem("the old password still logs in")
            out.ok("the old password is refused: an application must fetch AWSCURRENT again")
        else:
            previous = self.staged(s.arn, "AWSPREVIOUS")
            if not e.login(previous["username"], previous["password"], s.table):
                raise Problem(f"AWSPREVIOUS ({previous['username']}) does not log in")
            out.ok(f"AWSPREVIOUS ({previous['username']}, old password) still logs in{reads}: "
                   "applications that cached it keep working")

    # ------------------------------------------------------------ preflight

    def preflight(self) -> None:
        out.stage('preflight: the function\'s read-only check, {"Action": "preflight", "SecretId": ...}')
        reports = problems = 0
        for s in self.scenarios:
            if not s.arn:
                continue
            status, payload, elapsed = self.invoke({"Action": "preflight", "SecretId": s.arn})
            if status != 200:
                kind, message = error_of(payload)
                if kind == "InvalidEvent":
                    out.note(f"this build of the function has no preflight action yet (it answered "
                             f"InvalidEvent: {message}); skipped")
                    return
                out.bad(f"{s.secret_name}: preflight failed: {kind}: {message}")
                self.failures += 1
                continue
            if not isinstance(payload, dict) or not isinstance(payload.get("Checks"), list):
                out.bad(f"{s.secret_name}: unexpected preflight answer: {str(payload)[:200]}")
                self.failures += 1
                continue
            self.print_report(s, payload, elapsed)
            reports += 1
            problems += int(payload.get("Problems") or 0)
        if reports:
            found = f"{problems} problem{'s' if problems != 1 else ''} found" if problems else "no problem found"
            out.line(f"{reports} report{'s' if reports != 1 else ''}, {found} (a report: the demo "
                     "shows it, and does not fail on what it finds)")

    def print_report(self, s: Scenario, report: dict, elapsed: float) -> None:
        problems = report.get("Problems", 0)
        verdict = (paint("ready", "32") if report.get("Ok")
                   else paint(f"{problems} problem{'s' if problems != 1 else ''}", "31"))
        out.line(f"{s.secret_name}: engine {report.get('Engine')}, strategy "
                 f"{report.get('Strategy')}: {verdict} ({elapsed:.2f}s)")
        checks = [c for c in report["Checks"] if isinstance(c, dict)]
        name_w = max([len(str(c.get("Check", ""))) for c in checks] + [5])
        width = max(60, shutil.get_terminal_size((110, 20)).columns - 16 - 8 - name_w)
        colors = {"pass": "32", "fail": "31", "warn": "33", "skip": "2"}
        for c in checks:
            status = str(c.get("Status", "?"))
            lead = f"{paint(f'{status:<4}', colors.get(status, '0'))}  {str(c.get('Check', '')):<{name_w}}  "
            pad = " " * (4 + 2 + name_w + 2)
            lines = textwrap.wrap(str(c.get("Detail", "")), width) or [""]
            if c.get("Fix"):
                lines += textwrap.wrap(f"fix: {c['Fix']}", width)
            out.line(lead + lines[0], 5)
            for extra in lines[1:]:
                out.line(pad + extra, 5)

    # ------------------------------------------------------------ cleanup and the check

    def cleanup(self) -> None:
        out.stage("removing the demo's users, tables and secrets")
        counts = {"secret": 0, "database": 0}
        failed = []
        for kind, action in reversed(self.undo):
            try:
                action()
                counts[kind] += 1
            except Exception as error:  # noqa: BLE001 - cleanup is best effort
                failed.append(f"{kind}: {one_line(error)}")
        self.undo.clear()
        for f in failed:
            out.bad(f"cleanup: {f}")
        n = counts["secret"]
        out.ok(f"{n} secret{'s' if n != 1 else ''} deleted; database users, schemas and tables dropped")

    def check_output(self) -> None:
        """No password, nor any 12 characters of one, in what the demo printed."""
        text = "\n".join(out.lines)
        leaked = 0
        for password in self.passwords:
            n = min(12, len(password))
            if any(password[i:i + n] in text for i in range(len(password) - n + 1)):
                leaked += 1
        if leaked:
            self.failures += 1
            out.bad(f"{leaked} password(s) appeared in this output")
        else:
            out.ok(f"none of the {len(self.passwords)} passwords the demo knew appears in its output")

    def write_passwords(self) -> None:
        path = os.environ.get("DEMO_PASSWORDS_FILE")
        if not path:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(p + "\n" for p in sorted(self.passwords)))

    # ------------------------------------------------------------ the whole demo

    def run(self) -> int:
        try:
            out.stage("creating database users and their secrets (RDS JSON, in the Secrets Manager mock)")
            for s in self.scenarios:
                try:
                    self.setup(s)
                except Exception as error:  # noqa: BLE001 - reported, the demo goes on
                    self.fail(f"{s.title}: setup failed", error)
                    s.arn = ""
            self.write_settings()
            total = sum(1 for s in self.scenarios if s.arn)
            for i, s in enumerate([s for s in self.scenarios if s.arn], 1):
                try:
                    self.rotate(s, i, total)
                    s.ok = True
                except Exception as error:  # noqa: BLE001 - reported, the demo goes on
                    self.fail(f"rotation {i}/{total} ({s.title})", error)
            try:
                self.preflight()
            except Exception as error:  # noqa: BLE001
                self.fail("preflight", error)
        finally:
            # A Ctrl-C must not interrupt the cleanup as well.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self.cleanup()
                self.check_output()
                self.write_passwords()
            finally:
                signal.signal(signal.SIGINT, previous)
        rotated = sum(1 for s in self.scenarios if s.ok)
        summary = f"{rotated} of {len(self.scenarios)} rotations verified"
        if self.failures:
            out.bad(f"{summary}; {self.failures} problem(s), see the {BAD} lines above")
            return 1
        out.ok(summary)
        return 0

    def fail(self, what: str, error: BaseException) -> None:
        self.failures += 1
        out.bad(f"{what}: {one_line(error)}")
        if os.environ.get("DEMO_DEBUG"):
            traceback.print_exc()


def error_of(payload: object) -> tuple[str, str]:
    if isinstance(payload, dict):
        return str(payload.get("errorType", "error")), str(payload.get("errorMessage", payload))
    return "error", str(payload)[:300]


def one_line(error: BaseException) -> str:
    if isinstance(error, Problem):
        return str(error)
    if isinstance(error, pg8000.native.DatabaseError) and error.args and isinstance(error.args[0], dict):
        return f"PostgreSQL: {error.args[0].get('M', error)}"
    if isinstance(error, pymysql.err.MySQLError) and error.args:
        return f"MariaDB: {error.args[-1]}"
    if isinstance(error, botocore.exceptions.ClientError):
        return f"Secrets Manager: {error.response.get('Error', {}).get('Message', error)}"
    if isinstance(error, OSError):
        return f"cannot connect: {error}"
    return f"{type(error).__name__}: {error}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoke-url", required=True, help="the emulator's invoke URL for the function")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds one invocation may take (the first one starts the function)")
    parser.add_argument("--settings", required=True,
                        help="where to write the stack's settings file the function reads")
    parser.add_argument("--quick", action="store_true",
                        help="two rotations (PostgreSQL single user, MariaDB alternating users) "
                             "instead of both strategies on both engines")
    args = parser.parse_args()
    try:
        demo = Demo(args)
    except Problem as error:
        out.bad(str(error))
        return 1
    try:
        return demo.run()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
