"""moto_server, with Secrets Manager's rule that a version's value never changes.

scripts/testenv.sh starts this instead of the bare `moto_server` (same arguments). It patches
moto's Secrets Manager in this process, then runs moto's own server.

Why: the rotation function keeps the values it read or wrote for good, keyed by secret and
version id, because Secrets Manager never changes a version's value. Its PutSecretValue
reference says, of ClientRequestToken:

  - a token that names no version creates one;
  - a version with this token and the same SecretString / SecretBinary: the request is ignored
    and succeeds (nothing changes, the staging labels in VersionStages included);
  - a version with this token and different data: the request fails (ResourceExistsException),
    since a version cannot be modified.

moto 5.2.5 skips that check when the version is staged AWSPENDING and overwrites it (and applies
the retry's VersionStages), so two instances running createSecret for one token at once would
each keep their own password. Here PutSecretValue for a version that already holds a value is
answered by the rule above; a version without a value (the one RotateSecret makes, staged
AWSPENDING) still gets its value from the first PutSecretValue, as in Secrets Manager.

moto serves requests on several threads, and a check then a write on two of them can both see
an empty version (seen with a short sys.setswitchinterval): every Secrets Manager request is
handled under one lock, so each call is atomic, as the service's are.

Checked against moto 5.2.5 (scripts/requirements-test.txt); lambda/tests/secrets_manager_rules.rs
fails when the rule is not kept. On another moto version, check that moto's own put_secret_value
still takes the arguments wrapped below.
"""

import sys
import threading

import moto
from moto import server
from moto.secretsmanager.exceptions import ResourceExistsException
from moto.secretsmanager.models import ReplicaSecret, SecretsManagerBackend
from moto.secretsmanager.responses import SecretsManagerResponse

CHECKED_MOTO_VERSION = "5.2.5"

_moto_put_secret_value = SecretsManagerBackend.put_secret_value


def put_secret_value(
    self,
    secret_id,
    secret_string,
    secret_binary,
    client_request_token,
    version_stages,
):
    if client_request_token and self._is_valid_identifier(secret_id):
        secret = self.secrets[secret_id]
        version = None
        if not isinstance(secret, ReplicaSecret):
            version = secret.versions.get(client_request_token)
        if version is not None and (
            "secret_string" in version or "secret_binary" in version
        ):
            if (
                version.get("secret_string") == secret_string
                and version.get("secret_binary") == secret_binary
            ):
                # Ignored: no value and no staging label changes.
                return secret.to_short_dict(
                    include_version_stages=True, version_id=client_request_token
                )
            raise ResourceExistsException(
                f"You can't use ClientRequestToken {client_request_token} because that value "
                f"is already in use for a version of secret {secret.arn}."
            )
    return _moto_put_secret_value(
        self,
        secret_id=secret_id,
        secret_string=secret_string,
        secret_binary=secret_binary,
        client_request_token=client_request_token,
        version_stages=version_stages,
    )


_lock = threading.Lock()
_moto_call_action = SecretsManagerResponse.call_action


def call_action(self):
    with _lock:
        return _moto_call_action(self)


def main():
    if moto.__version__ != CHECKED_MOTO_VERSION:
        print(
            f"moto_server_strict: checked against moto {CHECKED_MOTO_VERSION}, running "
            f"{moto.__version__}: lambda/tests/secrets_manager_rules.rs tells whether the "
            "rule still holds",
            file=sys.stderr,
        )
    SecretsManagerBackend.put_secret_value = put_secret_value
    SecretsManagerResponse.call_action = call_action
    server.main(sys.argv[1:])


if __name__ == "__main__":
    main()
