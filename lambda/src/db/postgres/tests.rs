use super::*;

fn role(adjust: impl FnOnce(&mut RoleInfo)) -> RoleInfo {
    let mut info = RoleInfo {
        superuser: false,
        createrole: false,
        createdb: false,
        bypassrls: false,
        replication: false,
        connection_limit: -1,
        valid_until: "infinity".into(),
        can_login: true,
    };
    adjust(&mut info);
    info
}

fn member_of(role: &str, set: bool, inherit: bool, admin: bool) -> Membership {
    Membership {
        role: role.into(),
        admin,
        set,
        inherit,
    }
}

/// Plans the partner `target` of `template` (`app` <-> `app_clone`) from catalog rows.
fn plan(
    template: (&RoleInfo, &[Membership]),
    target: Option<(&RoleInfo, &[Membership])>,
) -> Result<PartnerPlan, String> {
    plan_partner(
        &["admin"],
        &RoleFacts {
            name: "app",
            info: template.0,
            memberships: template.1,
        },
        "app_clone",
        target.map(|(info, memberships)| RoleFacts {
            name: "app_clone",
            info,
            memberships,
        }),
    )
    .map_err(|e| format!("{}: {e}", e.kind()))
}

#[test]
fn a_missing_partner_is_created_and_a_member_partner_is_the_clone() {
    let plain = role(|_| {});
    assert_eq!(plan((&plain, &[]), None), Ok(PartnerPlan::Create));
    let clone_of_app = [member_of("app", true, true, false)];
    assert_eq!(
        plan((&plain, &[]), Some((&plain, &clone_of_app))),
        Ok(PartnerPlan::Clone)
    );
}

#[test]
fn a_template_that_may_manage_roles_or_is_the_master_is_refused() {
    for (info, memberships, named) in [
        (role(|r| r.superuser = true), vec![], "superuser"),
        (role(|r| r.createrole = true), vec![], "CREATEROLE"),
        (
            role(|_| {}),
            vec![member_of("payroll", true, true, true)],
            "ADMIN OPTION on `payroll`",
        ),
    ] {
        let error = plan((&info, &memberships), None).unwrap_err();
        assert!(
            error.starts_with("UnsafeTemplate") && error.contains(named),
            "{error}"
        );
    }
    let error = plan_partner(
        &["app"],
        &RoleFacts {
            name: "app",
            info: &role(|_| {}),
            memberships: &[],
        },
        "app_clone",
        None,
    )
    .unwrap_err();
    assert_eq!(error.kind(), "UnsafeTemplate");
}

#[test]
fn an_original_must_really_be_acted_as_log_in_and_hold_no_more() {
    let plain = role(|_| {});
    // The template `app` is a member of its partner: the partner is the original.
    for (membership, original, named) in [
        (member_of("app_clone", true, true, false), role(|_| {}), ""),
        (
            member_of("app_clone", false, true, false),
            role(|_| {}),
            "without SET",
        ),
        (
            member_of("app_clone", true, false, false),
            role(|_| {}),
            "without INHERIT",
        ),
        (
            member_of("app_clone", false, false, false),
            role(|_| {}),
            "without SET or INHERIT",
        ),
        (
            member_of("app_clone", true, true, false),
            role(|r| r.can_login = false),
            "NOLOGIN",
        ),
        (
            member_of("app_clone", true, true, false),
            role(|r| r.createdb = true),
            "CREATEDB",
        ),
        (
            member_of("app_clone", true, true, false),
            role(|r| r.bypassrls = true),
            "BYPASSRLS",
        ),
        (
            member_of("app_clone", true, true, false),
            role(|r| r.replication = true),
            "REPLICATION",
        ),
    ] {
        let template_memberships = [membership];
        let planned = plan((&plain, &template_memberships), Some((&original, &[])));
        if named.is_empty() {
            assert_eq!(planned, Ok(PartnerPlan::Original));
        } else {
            let error = planned.unwrap_err();
            assert!(
                error.starts_with("UnsafePartner") && error.contains(named),
                "{named}: {error}"
            );
        }
    }
}

#[test]
fn a_partner_tied_to_nothing_or_holding_more_is_refused() {
    let plain = role(|_| {});
    for (info, memberships, named) in [
        (role(|_| {}), vec![], "not this pair's partner"),
        (role(|r| r.superuser = true), vec![], "superuser"),
        (role(|r| r.createrole = true), vec![], "CREATEROLE"),
        (
            role(|_| {}),
            vec![
                member_of("app", true, true, false),
                member_of("payroll", true, true, false),
            ],
            "member of `payroll`",
        ),
        (
            role(|_| {}),
            vec![member_of("app", true, true, true)],
            "ADMIN OPTION",
        ),
        (
            role(|r| r.bypassrls = true),
            vec![member_of("app", true, true, false)],
            "BYPASSRLS",
        ),
    ] {
        let error = plan((&plain, &[]), Some((&info, &memberships))).unwrap_err();
        assert!(
            error.starts_with("UnsafePartner") && error.contains(named),
            "{named}: {error}"
        );
    }
    // The master is never the partner.
    let error = plan_partner(
        &["app_clone"],
        &RoleFacts {
            name: "app",
            info: &plain,
            memberships: &[],
        },
        "app_clone",
        None,
    )
    .unwrap_err();
    assert!(error.to_string().contains("master user"), "{error}");
}

/// A hostile "server" on loopback: asks for the password in clear (which the protocol
/// allows), then answers with an error that quotes it back, padded to flood a log.
async fn echoing_server() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let length = stream.read_i32().await.unwrap() as usize;
        let mut startup = vec![0; length - 4];
        stream.read_exact(&mut startup).await.unwrap();
        // AuthenticationCleartextPassword.
        stream
            .write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])
            .await
            .unwrap();
        assert_eq!(stream.read_u8().await.unwrap(), b'p');
        let length = stream.read_i32().await.unwrap() as usize;
        let mut password = vec![0; length - 4];
        stream.read_exact(&mut password).await.unwrap();
        let password = String::from_utf8_lossy(&password[..password.len() - 1]).into_owned();
        let message = format!("you sent {password} {}", "x".repeat(5000));
        let mut fields = Vec::new();
        for (code, value) in [(b'S', "FATAL"), (b'C', "28000"), (b'M', message.as_str())] {
            fields.push(code);
            fields.extend_from_slice(value.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut reply = vec![b'E'];
        reply.extend_from_slice(&((fields.len() + 4) as i32).to_be_bytes());
        reply.extend_from_slice(&fields);
        stream.write_all(&reply).await.unwrap();
    });
    port
}

#[tokio::test]
async fn a_server_never_echoes_the_password_into_an_error() {
    let port = echoing_server().await;
    let login = Login {
        engine: crate::secret::Engine::Postgres,
        host: "127.0.0.1".into(),
        port,
        username: "app".into(),
        password: SecretString::from("the-app-Pa55word"),
        dbname: None,
        tls: crate::secret::Tls::Disabled,
    };
    let settings = ConnectSettings {
        ca_bundle: None,
        statement_timeout: Duration::from_secs(5),
    };
    let error = match super::login(&login, settings).await {
        Err(error) => error,
        Ok(_) => panic!("the hostile server let the login through"),
    };
    assert_eq!(error.kind(), "LoginRefused");
    let text = format!("{error} {error:?}");
    assert!(!text.contains("the-app-Pa55word"), "{text}");
    assert!(text.contains("you sent ***"), "{text}");
    let shown = error.to_string();
    assert!(shown.len() < 700, "bounded: {} characters", shown.len());
}

#[test]
fn identifiers_double_their_quotes() {
    assert_eq!(quote_identifier("app"), "\"app\"");
    assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    assert_eq!(
        quote_identifier("x\"; DROP ROLE y; --"),
        "\"x\"\"; DROP ROLE y; --\""
    );
    assert_eq!(quote_identifier("ünï'cødé\\"), "\"ünï'cødé\\\"");
}

#[test]
fn literals_are_safe_in_either_string_mode() {
    assert_eq!(quote_literal("plain"), "'plain'");
    assert_eq!(quote_literal("it's"), "'it''s'");
    assert_eq!(quote_literal("back\\slash'"), " E'back\\\\slash'''");
    assert_eq!(
        quote_literal("'; DROP TABLE t; --"),
        "'''; DROP TABLE t; --'"
    );
}

#[test]
fn scram_verifier_is_quoted_plainly() {
    let verifier = postgres_protocol::password::scram_sha_256(b"p'a\\ss");
    assert!(verifier.starts_with("SCRAM-SHA-256$4096:"));
    assert_eq!(quote_literal(&verifier), format!("'{verifier}'"));
    assert!(!verifier.contains("p'a"));
}

#[test]
fn list_settings_are_given_element_by_element() {
    assert_eq!(
        setting_value("search_path", "\"$user\", public"),
        "'$user', 'public'"
    );
    assert_eq!(
        setting_value("search_path", "schema_x, \"My \"\"odd\"\" schema\", public"),
        "'schema_x', 'My \"odd\" schema', 'public'"
    );
    assert_eq!(setting_value("search_path", "\"\""), "''");
    assert_eq!(setting_value("search_path", ""), "''");
    assert_eq!(setting_value("Search_Path", "a,b"), "'a', 'b'");
    assert_eq!(setting_value("search_path", "\"a,b\", c"), "'a,b', 'c'");
}

#[test]
fn other_settings_are_one_literal() {
    assert_eq!(setting_value("statement_timeout", "7s"), "'7s'");
    assert_eq!(setting_value("datestyle", "iso, mdy"), "'iso, mdy'");
    assert_eq!(setting_value("app.x", "it's"), "'it''s'");
}

#[test]
fn a_bundle_without_certificates_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("pg-bundle-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let error = client_config(&empty).unwrap_err();
    assert!(
        error.contains("empty.pem") && error.contains("no usable"),
        "{error}"
    );
    let broken = dir.join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let error = client_config(&broken).unwrap_err();
    assert!(error.contains("broken.pem"), "{error}");
    let missing = dir.join("missing.pem");
    assert!(client_config(&missing).unwrap_err().contains("missing.pem"));
    std::fs::remove_dir_all(&dir).unwrap();
}
