//! Secrets Manager faults, injected offline with aws-smithy-mocks: what the store asks for and
//! how each failure reaches the operator. The real protocol is tested against moto elsewhere.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use rotation::secret::SecretValue;
use rotation::store::{AwsSecretStore, SecretStore, Staged};

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";

fn service_error(status: u16, kind: &str) -> Response {
    Response::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            r#"{{"__type":"{kind}","message":"injected {kind}"}}"#
        )),
    )
}

#[tokio::test]
async fn a_version_without_value_reads_as_none() {
    let missing = mock!(Client::get_secret_value).then_error(|| {
        GetSecretValueError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("no value")
                .build(),
        )
    });
    let store = AwsSecretStore::from_client(mock_client!(aws_sdk_secretsmanager, [&missing]));
    let value = store
        .get(ARN, Staged::Version("t", "AWSPENDING"))
        .await
        .unwrap();
    assert!(value.is_none());
}

#[tokio::test]
async fn reads_name_the_version_and_the_stage() {
    let get = mock!(Client::get_secret_value)
        .match_requests(|r| {
            r.version_id() == Some("tok") && r.version_stage() == Some("AWSPENDING")
        })
        .then_output(|| {
            GetSecretValueOutput::builder()
                .secret_string(r#"{"password":"x"}"#)
                .build()
        });
    let store = AwsSecretStore::from_client(mock_client!(aws_sdk_secretsmanager, [&get]));
    let value = store
        .get(ARN, Staged::Version("tok", "AWSPENDING"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(value.str_field("password"), Some("x"));
    assert_eq!(get.num_calls(), 1);
}

#[tokio::test]
async fn a_binary_or_malformed_value_is_named_without_its_content() {
    let binary =
        mock!(Client::get_secret_value).then_output(|| GetSecretValueOutput::builder().build());
    let store = AwsSecretStore::from_client(mock_client!(aws_sdk_secretsmanager, [&binary]));
    let error = store
        .get(ARN, Staged::Stage("AWSCURRENT"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "InvalidSecret");
    assert!(error.to_string().contains("SecretBinary"), "{error}");

    let broken = mock!(Client::get_secret_value).then_output(|| {
        GetSecretValueOutput::builder()
            .secret_string("{\"password\":\"hunter2")
            .build()
    });
    let store = AwsSecretStore::from_client(mock_client!(aws_sdk_secretsmanager, [&broken]));
    let error = store
        .get(ARN, Staged::Stage("AWSCURRENT"))
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[tokio::test]
async fn put_stages_pending_and_passes_the_rotation_token() {
    let put = mock!(Client::put_secret_value)
        .match_requests(|r| {
            r.client_request_token() == Some("tok")
                && r.rotation_token() == Some("rot")
                && r.version_stages() == ["AWSPENDING".to_owned()]
                && r.secret_string() == Some(r#"{"password":"new"}"#)
        })
        .then_output(|| PutSecretValueOutput::builder().build());
    let store = AwsSecretStore::from_client(mock_client!(aws_sdk_secretsmanager, [&put]));
    let value = SecretValue::parse(r#"{"password":"new"}"#).unwrap();
    store
        .put_pending(ARN, "tok", &value, Some("rot"))
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn promote_names_the_version_it_moves_from() {
    let update = mock!(Client::update_secret_version_stage)
        .match_requests(|r| {
            r.version_stage() == Some("AWSCURRENT")
                && r.move_to_version_id() == Some("new")
                && r.remove_from_version_id() == Some("old")
        })
        .then_output(|| UpdateSecretVersionStageOutput::builder().build());
    let store = AwsSecretStore::from_client(mock_client!(aws_sdk_secretsmanager, [&update]));
    store.promote(ARN, "new", Some("old")).await.unwrap();
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn access_denied_says_to_check_the_policy() {
    let denied = mock!(Client::describe_secret)
        .then_http_response(|| service_error(400, "AccessDeniedException"));
    let store = AwsSecretStore::from_client(mock_client!(aws_sdk_secretsmanager, [&denied]));
    let error = store.describe(ARN).await.unwrap_err();
    assert_eq!(error.kind(), "SecretsManagerError");
    let message = error.to_string();
    assert!(
        message.contains("AccessDeniedException") && message.contains("policy"),
        "{message}"
    );
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let flaky = mock!(Client::describe_secret)
        .sequence()
        .http_response(|| service_error(400, "ThrottlingException"))
        .output(|| {
            DescribeSecretOutput::builder()
                .rotation_enabled(true)
                .build()
        })
        .build();
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::Sequential,
        [&flaky],
        |c| {
            c.retry_config(
                aws_sdk_secretsmanager::config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
        }
    );
    let store = AwsSecretStore::from_client(client);
    let metadata = store
        .describe(ARN)
        .await
        .expect("the SDK retries throttling");
    assert_eq!(metadata.rotation_enabled, Some(true));
}

#[tokio::test]
async fn persistent_throttling_says_it_will_be_retried() {
    let throttled = mock!(Client::put_secret_value)
        .then_http_response(|| service_error(400, "ThrottlingException"));
    let store = AwsSecretStore::from_client(mock_client!(aws_sdk_secretsmanager, [&throttled]));
    let value = SecretValue::parse("{}").unwrap();
    let error = store
        .put_pending(ARN, "tok", &value, None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("throttled"), "{error}");
}

#[tokio::test]
async fn describe_keeps_an_absent_rotation_flag_and_the_tags() {
    let described = mock!(Client::describe_secret).then_output(|| {
        DescribeSecretOutput::builder()
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("aws:rds:primaryDBInstanceArn")
                    .value("arn:aws:rds:us-east-1:123456789012:db:orders")
                    .build(),
            )
            .build()
    });
    let store = AwsSecretStore::from_client(mock_client!(aws_sdk_secretsmanager, [&described]));
    let metadata = store.describe(ARN).await.unwrap();
    // Absent, not false: the guard goes on, as AWS's templates do.
    assert_eq!(metadata.rotation_enabled, None);
    assert_eq!(
        metadata.tags["aws:rds:primaryDBInstanceArn"],
        "arn:aws:rds:us-east-1:123456789012:db:orders"
    );
}
