//! The Secrets Manager the tests run against keeps the rules of the real one that the function
//! relies on. The function's cache keeps a version's value for good ("a version's value never
//! changes"), and createSecret run twice at once relies on Secrets Manager to keep exactly one
//! value per token. moto alone does not: it lets PutSecretValue overwrite a version labelled
//! AWSPENDING, so scripts/testenv.sh serves it through scripts/moto_server_strict.py, which
//! restores the rule. These tests fail against the bare moto server.
//!
//! The rules, from the PutSecretValue reference (ClientRequestToken):
//! - a token that names no version creates one; the version RotateSecret made (staged
//!   AWSPENDING, no value yet) gets its value;
//! - a token that names a version holding the same data: the request is ignored, and succeeds
//!   (its VersionStages are not applied);
//! - a token that names a version holding different data: ResourceExistsException, nothing
//!   changes.

use crate::common;

use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::put_secret_value::{
    PutSecretValueError, PutSecretValueOutput,
};
use common::{Harness, new_token};
use serde_json::json;

async fn put(
    h: &Harness,
    arn: &str,
    token: &str,
    value: &str,
    stage: &str,
) -> Result<PutSecretValueOutput, SdkError<PutSecretValueError>> {
    h.sm.put_secret_value()
        .secret_id(arn)
        .client_request_token(token)
        .secret_string(value)
        .version_stages(stage)
        .send()
        .await
}

/// The value stored under `token`, asked for by version id alone.
async fn value_of(h: &Harness, arn: &str, token: &str) -> String {
    h.sm.get_secret_value()
        .secret_id(arn)
        .version_id(token)
        .send()
        .await
        .expect("GetSecretValue by version")
        .secret_string()
        .expect("a SecretString")
        .to_owned()
}

/// GetSecretValue with neither a version nor a stage: AWSCURRENT's value.
async fn value_without_stage(h: &Harness, arn: &str) -> String {
    h.sm.get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .expect("GetSecretValue")
        .secret_string()
        .expect("a SecretString")
        .to_owned()
}

fn assert_resource_exists(result: Result<PutSecretValueOutput, SdkError<PutSecretValueError>>) {
    match result {
        Ok(out) => panic!(
            "PutSecretValue with different data for an existing version succeeded ({:?}): \
             the test Secrets Manager overwrote a version (bare moto? scripts/testenv.sh serves \
             scripts/moto_server_strict.py)",
            out.version_stages()
        ),
        Err(e) => {
            let e = e.into_service_error();
            assert!(
                e.is_resource_exists_exception(),
                "expected ResourceExistsException, got {e:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_pending_version_keeps_its_first_value() {
    needs_servers!();
    let h = Harness::new();
    let arn = h.create_secret(&json!({"password": "current"})).await;
    // RotateSecret makes the version, staged AWSPENDING, without a value.
    let token = h.start_rotation(&arn).await;
    let first = json!({"password": "first"}).to_string();
    put(&h, &arn, &token, &first, "AWSPENDING")
        .await
        .expect("the version RotateSecret made gets its value");
    let before = h.stages(&arn).await;

    let second = json!({"password": "second"}).to_string();
    assert_resource_exists(put(&h, &arn, &token, &second, "AWSPENDING").await);
    assert_eq!(value_of(&h, &arn, &token).await, first);
    assert_eq!(h.stages(&arn).await, before);

    // The same data again: ignored, and a success.
    let out = put(&h, &arn, &token, &first, "AWSPENDING")
        .await
        .expect("the same data for the same token is an idempotent success");
    assert_eq!(out.version_id(), Some(token.as_str()));
    assert_eq!(value_of(&h, &arn, &token).await, first);
    assert_eq!(h.stages(&arn).await, before);
    assert_eq!(h.password(&arn, "AWSPENDING").await, "first");
    assert_eq!(h.password(&arn, "AWSCURRENT").await, "current");
}

#[tokio::test]
async fn a_version_put_without_rotation_keeps_its_first_value() {
    needs_servers!();
    let h = Harness::new();
    let arn = h.create_secret(&json!({"password": "current"})).await;
    let token = new_token();
    let first = json!({"password": "first"}).to_string();
    put(&h, &arn, &token, &first, "AWSPENDING")
        .await
        .expect("a new token makes a new version");
    let second = json!({"password": "second"}).to_string();
    assert_resource_exists(put(&h, &arn, &token, &second, "AWSPENDING").await);
    assert_eq!(value_of(&h, &arn, &token).await, first);

    // And once the version is AWSCURRENT (and no longer AWSPENDING), still refused.
    let current = h.version_with(&arn, "AWSCURRENT").await;
    h.sm.update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&token)
        .remove_from_version_id(&current)
        .send()
        .await
        .expect("move AWSCURRENT");
    h.end_rotation(&arn, &token).await;
    assert_resource_exists(put(&h, &arn, &token, &second, "AWSPENDING").await);
    assert_eq!(h.password(&arn, "AWSCURRENT").await, "first");
}

/// An idempotent retry changes nothing, its staging labels included: the request is ignored.
#[tokio::test]
async fn an_idempotent_retry_moves_no_label() {
    needs_servers!();
    let h = Harness::new();
    let arn = h.create_secret(&json!({"password": "current"})).await;
    let token = h.start_rotation(&arn).await;
    let pending = json!({"password": "pending"}).to_string();
    put(&h, &arn, &token, &pending, "AWSPENDING").await.unwrap();
    let before = h.stages(&arn).await;
    put(&h, &arn, &token, &pending, "AWSCURRENT")
        .await
        .expect("the same data for the same token is an idempotent success");
    assert_eq!(h.stages(&arn).await, before);
    assert_eq!(h.password(&arn, "AWSCURRENT").await, "current");
}

/// Two writers of the same token at once (two instances running createSecret): exactly one
/// value is stored, and the other writer is refused.
#[tokio::test]
async fn concurrent_puts_for_one_token_store_one_value() {
    needs_servers!();
    let h = Harness::new();
    let arn = h.create_secret(&json!({"password": "current"})).await;
    for round in 0..10 {
        let token = h.start_rotation(&arn).await;
        let values: Vec<String> = (0..4)
            .map(|i| json!({"password": format!("writer-{round}-{i}")}).to_string())
            .collect();
        let results = put_all_at_once(&h, &arn, &token, &values).await;
        let winners: Vec<&String> = values
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(v, _)| v)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for result in results.into_iter().filter(Result::is_err) {
            assert_resource_exists(result);
        }
        assert_eq!(&value_of(&h, &arn, &token).await, winners[0]);
        h.sm.update_secret_version_stage()
            .secret_id(&arn)
            .version_stage("AWSPENDING")
            .remove_from_version_id(&token)
            .send()
            .await
            .expect("remove AWSPENDING");
    }
}

async fn put_all_at_once(
    h: &Harness,
    arn: &str,
    token: &str,
    values: &[String],
) -> Vec<Result<PutSecretValueOutput, SdkError<PutSecretValueError>>> {
    let tasks: Vec<_> = values
        .iter()
        .map(|value| {
            let (sm, arn, token, value) = (
                h.sm.clone(),
                arn.to_owned(),
                token.to_owned(),
                value.clone(),
            );
            tokio::spawn(async move {
                sm.put_secret_value()
                    .secret_id(arn)
                    .client_request_token(token)
                    .secret_string(value)
                    .version_stages("AWSPENDING")
                    .send()
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("the put task"));
    }
    results
}

/// finishSecret names the version AWSCURRENT leaves; a wrong one is refused and moves nothing
/// (moto keeps this rule itself).
#[tokio::test]
async fn moving_awscurrent_from_the_wrong_version_is_refused() {
    needs_servers!();
    let h = Harness::new();
    let arn = h.create_secret(&json!({"password": "current"})).await;
    let token = h.start_rotation(&arn).await;
    put(
        &h,
        &arn,
        &token,
        &json!({"password": "pending"}).to_string(),
        "AWSPENDING",
    )
    .await
    .unwrap();
    let before = h.stages(&arn).await;
    let refused =
        h.sm.update_secret_version_stage()
            .secret_id(&arn)
            .version_stage("AWSCURRENT")
            .move_to_version_id(&token)
            .remove_from_version_id(&token)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(
        refused.is_invalid_parameter_exception(),
        "expected InvalidParameterException, got {refused:?}"
    );
    let unnamed =
        h.sm.update_secret_version_stage()
            .secret_id(&arn)
            .version_stage("AWSCURRENT")
            .move_to_version_id(&token)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(
        unnamed.is_invalid_parameter_exception(),
        "expected InvalidParameterException, got {unnamed:?}"
    );
    assert_eq!(h.stages(&arn).await, before);
}

/// A staging label names one version at most: it leaves another version only when
/// RemoveFromVersionId names that version, and a version never holds it twice.
#[tokio::test]
async fn a_label_is_on_one_version_at_most() {
    needs_servers!();
    let h = Harness::new();
    let arn = h.create_secret(&json!({"password": "current"})).await;
    let (one, other) = (new_token(), new_token());
    put(&h, &arn, &one, r#"{"password":"one"}"#, "AWSPENDING")
        .await
        .unwrap();
    put(&h, &arn, &other, r#"{"password":"other"}"#, "UNRELATED")
        .await
        .unwrap();
    let before = h.stages(&arn).await;
    let unnamed =
        h.sm.update_secret_version_stage()
            .secret_id(&arn)
            .version_stage("AWSPENDING")
            .move_to_version_id(&other)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(
        unnamed.is_invalid_parameter_exception(),
        "expected InvalidParameterException, got {unnamed:?}"
    );
    assert_eq!(h.stages(&arn).await, before);

    // Attached again to the version that holds it: still once.
    h.sm.update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSPENDING")
        .move_to_version_id(&one)
        .send()
        .await
        .expect("attach a label to the version that holds it");
    assert_eq!(h.stages(&arn).await, before);

    // Named, it moves.
    h.sm.update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSPENDING")
        .move_to_version_id(&other)
        .remove_from_version_id(&one)
        .send()
        .await
        .expect("move AWSPENDING from the version that holds it");
    let after = h.stages(&arn).await;
    assert_eq!(after[&one], Vec::<String>::new(), "{after:?}");
    assert_eq!(after[&other], ["UNRELATED", "AWSPENDING"], "{after:?}");
}

/// After a rotation moved AWSCURRENT (UpdateSecretVersionStage), a read without a stage answers
/// with AWSCURRENT, and a new value put the default way (no VersionStages) becomes the only
/// AWSCURRENT, the rotated version AWSPREVIOUS.
#[tokio::test]
async fn awscurrent_follows_a_rotation_then_a_new_value() {
    needs_servers!();
    let h = Harness::new();
    let arn = h.create_secret(&json!({"password": "zero"})).await;
    let zero = h.version_with(&arn, "AWSCURRENT").await;
    let one = h.start_rotation(&arn).await;
    put(&h, &arn, &one, r#"{"password":"one"}"#, "AWSPENDING")
        .await
        .unwrap();
    h.sm.update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&one)
        .remove_from_version_id(&zero)
        .send()
        .await
        .expect("move AWSCURRENT");
    h.end_rotation(&arn, &one).await;
    assert_eq!(value_without_stage(&h, &arn).await, r#"{"password":"one"}"#);

    let two =
        h.sm.put_secret_value()
            .secret_id(&arn)
            .secret_string(r#"{"password":"two"}"#)
            .send()
            .await
            .expect("a new value, made AWSCURRENT")
            .version_id()
            .unwrap()
            .to_owned();
    let stages = h.stages(&arn).await;
    let holding = |stage: &str| -> Vec<&String> {
        stages
            .iter()
            .filter(|(_, s)| s.iter().any(|s| s == stage))
            .map(|(v, _)| v)
            .collect()
    };
    assert_eq!(holding("AWSCURRENT"), [&two], "{stages:?}");
    assert_eq!(holding("AWSPREVIOUS"), [&one], "{stages:?}");
    assert_eq!(h.password(&arn, "AWSCURRENT").await, "two");
    assert_eq!(value_without_stage(&h, &arn).await, r#"{"password":"two"}"#);
}
