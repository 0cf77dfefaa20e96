"""moto_server, with Secrets Manager's rules on versions that moto does not keep.

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

UpdateSecretVersionStage: a staging label names one version at most. Its reference says that a
label attached to another version moves only when RemoveFromVersionId names that version, else
the call fails; moto 5.2.5 checks that for AWSCURRENT only, and attaches any other label to a
second version (or a second time to the same one). Here the call is refused
(InvalidParameterException) when RemoveFromVersionId is empty and another version holds the
label, and a version never lists a label twice. moto also keeps its own pointer to the
AWSCURRENT version, which UpdateSecretVersionStage does not move: after a rotation,
GetSecretValue without a stage answers with the old version, and a later PutSecretValue that
makes a new AWSCURRENT (no VersionStages) moves AWSPREVIOUS from that old version and leaves
AWSCURRENT on two versions (reads by stage then get the older). Here the pointer follows the
label.

moto serves requests on several threads, and a check then a write on two of them can both see
an empty version (seen with a short sys.setswitchinterval): every Secrets Manager request is
handled under one lock, so each call is atomic, as the service's are. (RotateSecret runs under
it too: moto never invokes a rotation function here, none is registered in its Lambda; one
that called Secrets Manager back during RotateSecret would wait on the lock.)

Left as moto does it (no rotation's outcome depends on these; a test that asserts one of them
checks moto, not Secrets Manager):
  - RotateSecret's "rotation in progress" check is inverted: moto refuses when AWSPENDING is on
    the AWSCURRENT version (allowed) and starts a rotation while another version is AWSPENDING
    (refused by Secrets Manager). A test that starts a rotation over a stale AWSPENDING reaches
    a state Secrets Manager would refuse.
  - UpdateSecretVersionStage may remove AWSCURRENT without moving it (it then marks that
    version AWSPREVIOUS).
  - PutSecretValue that makes a new AWSCURRENT replaces every label of the old one with
    AWSPREVIOUS (Secrets Manager moves AWSCURRENT and AWSPREVIOUS only).
  - UpdateSecret with a ClientRequestToken has moto's AWSPENDING overwrite too.
  - DescribeSecret lists versions without labels (documented: the versions that have labels).
  - RotationToken is not checked.

Checked against moto 5.2.5 (scripts/requirements-test.txt); lambda/tests/secrets_manager_rules.rs
fails when a rule is not kept. On another moto version, check that moto's own methods wrapped
below still take the same arguments.
"""

import sys
import threading

import moto
from moto import server
from moto.secretsmanager.exceptions import (
    InvalidParameterException,
    ResourceExistsException,
)
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


_moto_update_secret_version_stage = SecretsManagerBackend.update_secret_version_stage


def update_secret_version_stage(
    self, secret_id, version_stage, remove_from_version_id, move_to_version_id
):
    secret = self.secrets.get(secret_id) if secret_id else None
    if isinstance(secret, ReplicaSecret):
        secret = None
    if secret is not None and move_to_version_id and not remove_from_version_id:
        for version_id, version in secret.versions.items():
            if version_id != move_to_version_id and version_stage in version["version_stages"]:
                raise InvalidParameterException(
                    f"The parameter RemoveFromVersionId can't be empty. Staging label "
                    f"{version_stage} is currently attached to version {version_id}, so you "
                    "must explicitly reference that version in RemoveFromVersionId."
                )
    result = _moto_update_secret_version_stage(
        self,
        secret_id=secret_id,
        version_stage=version_stage,
        remove_from_version_id=remove_from_version_id,
        move_to_version_id=move_to_version_id,
    )
    if secret is not None and move_to_version_id in secret.versions:
        stages = secret.versions[move_to_version_id]["version_stages"]
        stages[:] = list(dict.fromkeys(stages))
    if secret is not None and version_stage == "AWSCURRENT":
        # moto's own pointer to the AWSCURRENT version, which this call does not move.
        for version_id, version in secret.versions.items():
            if "AWSCURRENT" in version["version_stages"]:
                secret.set_default_version_id(version_id)
                break
    return result


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
    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage
    SecretsManagerResponse.call_action = call_action
    server.main(sys.argv[1:])


if __name__ == "__main__":
    main()
