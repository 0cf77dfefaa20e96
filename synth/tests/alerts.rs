//! The alarms and the rotation-failure rule reach someone in a real account:
//! every publisher is allowed by the topic policy the stack writes, the rule
//! matches every failure Secrets Manager reports, and an undeliverable alert
//! is kept rather than lost.

use serde_yaml_ng::Value;

const EXAMPLE: &str = include_str!("../../examples/postgres-single-user.yaml");

fn render(source: &str) -> Value {
    let text = synth::render_config(source, "examples/postgres-single-user.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn resource<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["Resources"]
        .get(id)
        .unwrap_or_else(|| panic!("no resource {id}"))
}

/// The logical IDs of the `Fn::GetAtt [ID, Arn]` values in `value` (one or a list).
fn get_att_arns(value: &Value) -> Vec<String> {
    let items = match value {
        Value::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|item| {
            let att = item["Fn::GetAtt"]
                .as_sequence()
                .unwrap_or_else(|| panic!("not a GetAtt: {item:?}"));
            assert_eq!(att[1].as_str(), Some("Arn"), "{item:?}");
            att[0].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Every alarm whose action is the created topic may publish to it: the topic
/// policy replaces the default one, so a publisher it does not name is refused.
#[test]
fn every_alarm_may_publish_to_the_created_topic() {
    every_alarm_may_publish_to_the_created_topic_of(EXAMPLE);
    // With the drift check's alarms, and an alternating secret with a grace.
    let multi = include_str!("../../examples/multi-database.yaml").replacen(
        "    strategy: alternating-users\n",
        "    strategy: alternating-users\n    retire_previous_after: 12h\n",
        1,
    ) + "alerts:\n  drift_check: \"rate(1 day)\"\n";
    let doc = every_alarm_may_publish_to_the_created_topic_of(&multi);
    for id in ["DriftedSecretsAlarm", "RetiredUserInUseAlarm"] {
        resource(&doc, id);
    }
}

fn every_alarm_may_publish_to_the_created_topic_of(source: &str) -> Value {
    let doc = render(source);
    let statements =
        resource(&doc, "AlarmTopicPolicy")["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap();
    let cloudwatch = statements
        .iter()
        .find(|s| s["Principal"]["Service"].as_str() == Some("cloudwatch.amazonaws.com"))
        .expect("a statement for cloudwatch.amazonaws.com");
    assert_eq!(cloudwatch["Effect"].as_str(), Some("Allow"));
    assert_eq!(cloudwatch["Action"].as_str(), Some("sns:Publish"));
    let allowed = get_att_arns(&cloudwatch["Condition"]["ArnEquals"]["aws:SourceArn"]);
    assert_eq!(
        cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"]["Ref"].as_str(),
        Some("AWS::AccountId")
    );

    let resources = doc["Resources"].as_mapping().unwrap();
    let mut alarms = Vec::new();
    for (id, r) in resources {
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let id = id.as_str().unwrap().to_owned();
        let actions = r["Properties"]["AlarmActions"].as_sequence().unwrap();
        assert!(
            actions
                .iter()
                .all(|a| a["Ref"].as_str() == Some("AlarmTopic")),
            "{id}: {actions:?}"
        );
        assert!(allowed.contains(&id), "{id} may not publish: {allowed:?}");
        alarms.push(id);
    }
    assert!(alarms.len() >= 2, "{alarms:?}");
    assert_eq!(allowed.len(), alarms.len(), "only this stack's alarms");

    // The key policy lets both publishing services encrypt.
    let key_statements = resource(&doc, "AlarmTopicKey")["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap();
    let services: Vec<&str> = key_statements
        .iter()
        .filter_map(|s| s["Principal"]["Service"].as_str())
        .collect();
    assert!(
        services.contains(&"cloudwatch.amazonaws.com")
            && services.contains(&"events.amazonaws.com"),
        "{services:?}"
    );
    // CloudWatch encrypts for this account's alarms only.
    let cloudwatch = key_statements
        .iter()
        .find(|s| s["Principal"]["Service"].as_str() == Some("cloudwatch.amazonaws.com"))
        .unwrap();
    assert_eq!(
        cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"]["Ref"].as_str(),
        Some("AWS::AccountId")
    );
    doc
}

/// The undelivered-alert alarm counts events that arrive in the dead-letter
/// queue, so a second one notifies again while the first is still kept there;
/// the queue, the key and the log group outlive a delete or replacement.
#[test]
fn the_undelivered_alarm_counts_arrivals_and_the_records_are_kept() {
    let doc = render(EXAMPLE);
    let alarm = &resource(&doc, "RotationAlertsUndeliveredAlarm")["Properties"];
    assert_eq!(alarm["MetricName"].as_str(), Some("NumberOfMessagesSent"));
    assert_eq!(alarm["Statistic"].as_str(), Some("Sum"));
    for id in [
        "RotationFunctionLogGroup",
        "RotationAlertsDeadLetterQueue",
        "AlarmTopicKey",
    ] {
        let r = resource(&doc, id);
        assert_eq!(r["DeletionPolicy"].as_str(), Some("Retain"), "{id}");
        assert_eq!(r["UpdateReplacePolicy"].as_str(), Some("Retain"), "{id}");
    }
}

/// Every nested stack of schedules waits for the whole failure path, so a
/// test rotation failing on the first deploy is reported, and for the
/// previous bucket's stack (one bucket's first rotations at a time).
#[test]
fn schedules_wait_for_the_failure_path_and_for_each_other() {
    // Four databases in four buckets.
    let doc = render(include_str!("../../examples/multi-database.yaml"));
    let resources = doc["Resources"].as_mapping().unwrap();
    let nested: Vec<(&str, Vec<&str>)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudFormation::Stack"))
        .map(|(id, r)| {
            (
                id.as_str().unwrap(),
                r["DependsOn"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(nested.len(), 4);
    for (i, (id, deps)) in nested.iter().enumerate() {
        for needed in [
            "SecretsManagerInvokePermission",
            "RotationFailedRule",
            "RotationAlertsDeadLetterQueuePolicy",
            "AlarmTopicPolicy",
        ] {
            assert!(deps.contains(&needed), "{id}: {deps:?}");
        }
        if i > 0 {
            assert!(deps.contains(&nested[i - 1].0), "{id}: {deps:?}");
        }
    }
}

/// The rule matches every rotation failure Secrets Manager records in
/// CloudTrail, including the test rotation it runs when a schedule is set
/// without rotating immediately.
#[test]
fn rule_matches_every_rotation_failure() {
    let source = EXAMPLE.replace("rotate_immediately: true", "rotate_immediately: false");
    assert_ne!(source, EXAMPLE);
    let doc = render(&source);
    let rule = &resource(&doc, "RotationFailedRule")["Properties"];
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"][0].as_str(), Some("aws.secretsmanager"));
    assert_eq!(
        pattern["detail-type"][0].as_str(),
        Some("AWS Service Event via CloudTrail")
    );
    let names: Vec<&str> = pattern["detail"]["eventName"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for name in ["RotationFailed", "TestRotationFailed", "RotationAbandoned"] {
        assert!(names.contains(&name), "{name} not matched: {names:?}");
    }
}

/// An event the topic refuses lands in an encrypted queue that only this rule
/// may write to, and an alarm says so.
#[test]
fn undeliverable_failures_are_kept() {
    for source in [
        EXAMPLE.to_owned(),
        EXAMPLE.replace(
            "create_topic: true",
            "topic_arn: arn:aws:sns:eu-west-1:123456789012:alerts",
        ),
    ] {
        let doc = render(&source);
        let target = &resource(&doc, "RotationFailedRule")["Properties"]["Targets"][0];
        let dlq = get_att_arns(&target["DeadLetterConfig"]["Arn"]);
        assert_eq!(dlq.len(), 1);
        let queue = resource(&doc, &dlq[0]);
        assert_eq!(queue["Type"].as_str(), Some("AWS::SQS::Queue"));
        assert!(
            queue["Properties"]["SqsManagedSseEnabled"].as_bool() == Some(true)
                || queue["Properties"].get("KmsMasterKeyId").is_some(),
            "queue not encrypted: {queue:?}"
        );

        let policies: Vec<&Value> = doc["Resources"]
            .as_mapping()
            .unwrap()
            .values()
            .filter(|r| r["Type"].as_str() == Some("AWS::SQS::QueuePolicy"))
            .collect();
        assert_eq!(policies.len(), 1);
        let props = &policies[0]["Properties"];
        assert_eq!(props["Queues"][0]["Ref"].as_str(), Some(dlq[0].as_str()));
        let statements = props["PolicyDocument"]["Statement"].as_sequence().unwrap();
        assert_eq!(statements.len(), 1, "{statements:?}");
        let s = &statements[0];
        assert_eq!(
            s["Principal"]["Service"].as_str(),
            Some("events.amazonaws.com")
        );
        assert_eq!(s["Action"].as_str(), Some("sqs:SendMessage"));
        assert_eq!(
            get_att_arns(&s["Condition"]["ArnEquals"]["aws:SourceArn"]),
            ["RotationFailedRule"]
        );

        let alarm = doc["Resources"]
            .as_mapping()
            .unwrap()
            .values()
            .find(|r| r["Properties"]["Namespace"].as_str() == Some("AWS/SQS"))
            .expect("an alarm on the dead-letter queue");
        assert_eq!(
            alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0].as_str(),
            Some(dlq[0].as_str())
        );
    }
}

const MYSQL: &str = include_str!("../../examples/mysql-alternating-users.yaml");

fn render_mysql(source: &str) -> Result<Value, String> {
    let text = synth::render_config(source, "examples/mysql-alternating-users.yaml")
        .map_err(|e| format!("{e:#}"))?;
    Ok(serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}")))
}

/// The MySQL example with a drift check and a grace for its previous user.
fn with_drift(schedule: Option<&str>, grace: Option<&str>) -> String {
    let mut source = MYSQL.to_owned();
    if let Some(grace) = grace {
        source = source.replace(
            "    strategy: alternating-users\n",
            &format!("    strategy: alternating-users\n    retire_previous_after: {grace}\n"),
        );
    }
    if let Some(schedule) = schedule {
        source.push_str(&format!("alerts:\n  drift_check: \"{schedule}\"\n"));
    }
    source
}

#[test]
fn the_drift_check_has_its_rule_permission_and_alarms_only_when_set() {
    let off = render_mysql(MYSQL).unwrap();
    for id in [
        "DriftCheckRule",
        "DriftCheckInvokePermission",
        "DriftedSecretsAlarm",
    ] {
        assert!(
            off["Resources"].get(id).is_none(),
            "{id} without drift_check"
        );
    }
    let on = render_mysql(&with_drift(Some("rate(6 hours)"), Some("24h"))).unwrap();
    let rule = resource(&on, "DriftCheckRule");
    assert_eq!(rule["Properties"]["ScheduleExpression"], "rate(6 hours)");
    let input: serde_json::Value =
        serde_json::from_str(rule["Properties"]["Targets"][0]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, serde_json::json!({"Action": "drift-check"}));
    let permission = &resource(&on, "DriftCheckInvokePermission")["Properties"];
    assert_eq!(permission["Principal"], "events.amazonaws.com");
    assert_eq!(get_att_arns(&permission["SourceArn"]), ["DriftCheckRule"]);
    let alarm = &resource(&on, "DriftedSecretsAlarm")["Properties"];
    assert_eq!(alarm["MetricName"], "DriftedSecrets");
    assert_eq!(alarm["TreatMissingData"], "breaching");
    assert_eq!(alarm["Threshold"], 1.0);
    // Two runs of six hours without a result.
    assert_eq!(alarm["Period"], 43_200);
    assert_eq!(alarm["EvaluationPeriods"], 1);
    let in_use = &resource(&on, "RetiredUserInUseAlarm")["Properties"];
    assert_eq!(in_use["MetricName"], "RetiredUserInUse");
}

#[test]
fn drift_schedules_and_graces_are_checked_with_the_field_named() {
    for (source, says) in [
        (with_drift(Some("rate(1 days)"), None), "alerts.drift_check"),
        (
            with_drift(Some("rate(5 minutes)"), None),
            "more often than hourly",
        ),
        (
            with_drift(Some("rate(1 day)"), Some("30m")),
            "retire_previous_after",
        ),
        (
            with_drift(Some("rate(1 day)"), Some("soon")),
            "not a duration",
        ),
        // MySQL needs the drift check to take the later action.
        (
            with_drift(None, Some("24h")),
            "alerts.drift_check is not set",
        ),
    ] {
        let error = render_mysql(&source).unwrap_err();
        assert!(error.contains(says), "{says}: {error}");
    }
    assert!(render_mysql(&with_drift(Some("cron(0 6 * * ? *)"), Some("24h"))).is_ok());
}
