//! The function's network paths: a created endpoint serves the function alone
//! (private DNS off, so other workloads of the VPC keep resolving the service
//! as before), the RDS API path exists only when configured (for alternating
//! users' RDS-managed masters, and the preflight's RDS Proxy check), and the network-interface permissions cannot touch other workloads'
//! interfaces nor be used by the function's own code.

use serde_yaml_ng::Value;

const BASE: &str = r#"name: app-rotation
network:
  vpc_id: vpc-0123456789abcdef0
  subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
  database_security_group_id: sg-0123456789abcdef0
  secrets_manager_endpoint:
    create: true
code:
  function:
    path: ../dist/bootstrap.zip
  layer:
    path: ../dist/rds-ca-layer.zip
notifications:
  create_topic: true
databases:
  - name: billing
    secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-GhIjKl
    engine: mysql
    strategy: alternating-users
    master_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin-MnOpQr
    schedule:
      expression: rate(30 days)
"#;

fn render(source: &str) -> Value {
    let text = synth::render_config(source, "configs/app.yaml").unwrap_or_else(|e| panic!("{e}"));
    serde_yaml_ng::from_str(&text).unwrap()
}

fn with_rds(endpoint: &str) -> String {
    let src = BASE.replace(
        "    create: true\ncode:",
        &format!("    create: true\n  rds_endpoint:\n{endpoint}code:"),
    );
    assert_ne!(src, BASE);
    src
}

fn env(doc: &Value) -> &Value {
    &doc["Resources"]["RotationFunction"]["Properties"]["Environment"]["Variables"]
}

fn egress(doc: &Value) -> &Vec<Value> {
    doc["Resources"]["RotationFunctionSecurityGroup"]["Properties"]["SecurityGroupEgress"]
        .as_sequence()
        .unwrap()
}

fn getatt(value: &Value) -> Option<&str> {
    value["Fn::GetAtt"][0].as_str()
}

#[test]
fn a_created_secrets_manager_endpoint_serves_the_function_alone() {
    let doc = render(BASE);
    let endpoint = &doc["Resources"]["SecretsManagerEndpoint"]["Properties"];
    // Private DNS would send every workload of the VPC to an endpoint that
    // admits only the function.
    assert_eq!(endpoint["PrivateDnsEnabled"].as_bool(), Some(false));
    // The function is given the endpoint's own name instead.
    let url = serde_json::to_string(&env(&doc)["SECRETS_MANAGER_ENDPOINT"]).unwrap();
    assert!(
        url.contains("https://")
            && url.contains("SecretsManagerEndpoint")
            && url.contains("DnsEntries"),
        "{url}"
    );
    // Only the function may connect to it, on 443.
    let ingress = &doc["Resources"]["SecretsManagerEndpointIngress"]["Properties"];
    assert_eq!(
        getatt(&ingress["SourceSecurityGroupId"]),
        Some("RotationFunctionSecurityGroup")
    );
    assert_eq!(ingress["FromPort"].as_u64(), Some(443));
    assert!(
        doc["Resources"]["SecretsManagerEndpointSecurityGroup"]["Properties"]
            .get("SecurityGroupIngress")
            .is_none()
    );
}

#[test]
fn an_existing_secrets_manager_endpoint_is_reached_by_the_regional_name() {
    let src = BASE.replace(
        "    create: true\n",
        "    security_group_id: sg-0aaaaaaaaaaaaaaa0\n",
    );
    let doc = render(&src);
    assert!(doc["Resources"].get("SecretsManagerEndpoint").is_none());
    let url = serde_json::to_string(&env(&doc)["SECRETS_MANAGER_ENDPOINT"]).unwrap();
    assert!(
        url.contains("https://secretsmanager.${AWS::Region}"),
        "{url}"
    );
}

#[test]
fn no_rds_path_unless_configured() {
    let doc = render(BASE);
    let text = serde_yaml_ng::to_string(&doc).unwrap();
    assert!(!text.contains("RdsEndpoint") && !text.contains("AWS_ENDPOINT_URL_RDS"));
    // Without a route the function is not told to use one, nor allowed to list proxies.
    assert!(!text.contains("RDS_API_ROUTE") && !text.contains("DescribeDBProxies"));
    // Egress: the database port and Secrets Manager, nothing else.
    let ports: Vec<u64> = egress(&doc)
        .iter()
        .map(|e| e["FromPort"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [3306, 443]);
}

#[test]
fn a_created_rds_endpoint_serves_the_function_alone() {
    let doc = render(&with_rds("    create: true\n"));
    let endpoint = &doc["Resources"]["RdsEndpoint"]["Properties"];
    assert_eq!(endpoint["PrivateDnsEnabled"].as_bool(), Some(false));
    assert_eq!(
        endpoint["ServiceName"]["Fn::Sub"].as_str(),
        Some("com.amazonaws.${AWS::Region}.rds")
    );
    // The SDK reads AWS_ENDPOINT_URL_RDS for the RDS client.
    let url = serde_json::to_string(&env(&doc)["AWS_ENDPOINT_URL_RDS"]).unwrap();
    assert!(
        url.contains("RdsEndpoint") && url.contains("DnsEntries"),
        "{url}"
    );
    // 443 out to its group, 443 in from the function only.
    assert!(
        egress(&doc)
            .iter()
            .any(|e| e["FromPort"].as_u64() == Some(443)
                && getatt(&e["DestinationSecurityGroupId"]) == Some("RdsEndpointSecurityGroup"))
    );
    let ingress = &doc["Resources"]["RdsEndpointIngress"]["Properties"];
    assert_eq!(
        getatt(&ingress["GroupId"]),
        Some("RdsEndpointSecurityGroup")
    );
    assert_eq!(
        getatt(&ingress["SourceSecurityGroupId"]),
        Some("RotationFunctionSecurityGroup")
    );
    // The first rotation waits for the path.
    let depends =
        serde_yaml_ng::to_string(&doc["Resources"]["SecretsManagerInvokePermission"]["DependsOn"])
            .unwrap();
    assert!(
        depends.contains("RdsEndpoint\n") && depends.contains("RdsEndpointIngress"),
        "{depends}"
    );
}

#[test]
fn an_existing_rds_endpoint_gets_egress_and_ingress_only() {
    let doc = render(&with_rds("    security_group_id: sg-0bbbbbbbbbbbbbbb0\n"));
    assert!(doc["Resources"].get("RdsEndpoint").is_none());
    assert!(env(&doc).get("AWS_ENDPOINT_URL_RDS").is_none());
    assert!(
        egress(&doc)
            .iter()
            .any(|e| e["FromPort"].as_u64() == Some(443)
                && e["DestinationSecurityGroupId"].as_str() == Some("sg-0bbbbbbbbbbbbbbb0"))
    );
    let ingress = &doc["Resources"]["RdsEndpointIngress"]["Properties"];
    assert_eq!(ingress["GroupId"].as_str(), Some("sg-0bbbbbbbbbbbbbbb0"));
}

#[test]
fn an_rds_endpoint_lets_the_preflight_find_proxies_of_any_strategy() {
    let src = with_rds("    create: true\n")
        .replace("    strategy: alternating-users\n", "    strategy: single-user\n")
        .replace("    master_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin-MnOpQr\n", "");
    let doc = render(&src);
    assert_eq!(env(&doc)["RDS_API_ROUTE"].as_str(), Some("true"));
    let all = statements(&doc);
    let sids: Vec<&str> = all
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .filter(|s| matches!(*s, "FindProxies" | "FindMasterDatabases"))
        .collect();
    // No master secret: the proxy listing only.
    assert_eq!(sids, ["FindProxies"]);
    let find = statements(&doc)
        .into_iter()
        .find(|s| s["Sid"].as_str() == Some("FindProxies"))
        .unwrap();
    assert_eq!(find["Action"].as_str(), Some("rds:DescribeDBProxies"));
    assert_eq!(
        find["Resource"]["Fn::Sub"].as_str(),
        Some("arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db-proxy:*")
    );
    // The endpoint's policy lets the listing through.
    let policy =
        serde_yaml_ng::to_string(&doc["Resources"]["RdsEndpoint"]["Properties"]["PolicyDocument"])
            .unwrap();
    assert!(policy.contains("rds:DescribeDBProxies"), "{policy}");

    let src = with_rds("    create: true\n    security_group_id: sg-0bbbbbbbbbbbbbbb0\n");
    let err = synth::render_config(&src, "configs/app.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`network.rds_endpoint`") && err.contains("not both"),
        "{err}"
    );
}

fn statements(doc: &Value) -> Vec<Value> {
    doc["Resources"]["RotationFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap()
        .clone()
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Sequence(list) => list
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("{other:?}"),
    }
}

const CHANGES: [&str; 4] = [
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
];

#[test]
fn network_interface_changes_are_limited_to_the_vpc_and_its_subnets() {
    let doc = render(BASE);
    let mut allowing = 0;
    for s in statements(&doc) {
        if s["Effect"].as_str() != Some("Allow")
            || !actions(&s).iter().any(|a| CHANGES.contains(&a.as_str()))
        {
            continue;
        }
        allowing += 1;
        let condition = serde_yaml_ng::to_string(&s["Condition"]["ArnLike"]).unwrap();
        // Shared subnets and VPCs have ARNs in their owner's account.
        assert!(
            condition.contains(":*:vpc/${Vpc}") && condition.contains("vpc-0123456789abcdef0"),
            "{condition}"
        );
        let resources = serde_yaml_ng::to_string(&s["Resource"]).unwrap();
        assert!(
            !resources.contains("\"*\"") && !resources.contains("'*'"),
            "{resources}"
        );
        for line in resources.lines().filter(|l| l.contains(":subnet/")) {
            assert!(
                line.contains(":*:subnet/"),
                "subnet ARN pinned to an account: {line}"
            );
        }
        if resources.contains("network-interface/*") {
            // Interfaces are matched by the subnet they are in.
            assert!(
                condition.contains("ec2:Subnet") && condition.contains("subnet-0fedcba9876543210"),
                "{condition}"
            );
        }
    }
    assert_eq!(allowing, 2);
}

#[test]
fn the_function_code_cannot_use_the_network_permissions() {
    let doc = render(BASE);
    let all = statements(&doc);
    let deny = all
        .iter()
        .find(|s| s["Effect"].as_str() == Some("Deny"))
        .expect("a deny statement");
    assert_eq!(deny["Resource"].as_str(), Some("*"));
    // Lambda adds lambda:SourceFunctionArn to the calls the code makes, not to its own.
    assert_eq!(
        deny["Condition"]["Null"]["lambda:SourceFunctionArn"].as_str(),
        Some("false")
    );
    let denied = actions(deny);
    for s in &all {
        for a in actions(s).iter().filter(|a| a.starts_with("ec2:")) {
            assert!(denied.contains(a), "{a} is allowed to the function's code");
        }
    }
}

/// A created endpoint answers the function's role alone, and only the calls
/// the function makes.
#[test]
fn created_endpoints_serve_only_the_functions_role() {
    let doc = render(&with_rds("    create: true\n"));
    for (id, actions) in [
        ("SecretsManagerEndpoint", "secretsmanager:"),
        ("RdsEndpoint", "rds:"),
    ] {
        let statements = doc["Resources"][id]["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{id} has no policy"));
        assert_eq!(statements.len(), 1, "{id}");
        let s = &statements[0];
        assert_eq!(
            s["Principal"]["AWS"][0]["Fn::GetAtt"][0].as_str(),
            Some("RotationFunctionRole"),
            "{id}"
        );
        let list = s["Action"].as_sequence().unwrap();
        assert!(
            list.iter()
                .all(|a| a.as_str().unwrap().starts_with(actions)
                    && !a.as_str().unwrap().ends_with('*')),
            "{id}: {list:?}"
        );
    }
}
