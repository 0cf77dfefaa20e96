//! The grammar and the comparisons, on lines as MySQL and MariaDB print them.

use super::*;

fn grant(line: &str) -> Line {
    parse(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn excess_of(template: &[&str], target: &[&str]) -> Vec<String> {
    let t: Vec<Line> = template.iter().map(|l| grant(l)).collect();
    let x: Vec<Line> = target.iter().map(|l| grant(l)).collect();
    excess(&t, &x)
}

#[test]
fn mariadb_usage_line_drops_the_hash_and_keeps_require_and_limits() {
    let line = grant(
        "GRANT RELOAD, SUPER ON *.* TO `zz`@`%` IDENTIFIED BY PASSWORD \
         '*0C1C6C1A0E909C674D37A42508DF354EC39FFA84' REQUIRE ISSUER '/CN=y' SUBJECT \
         '/CN=x''q' CIPHER 'ECDHE-RSA-AES256-GCM-SHA384' WITH MAX_QUERIES_PER_HOUR 10 \
         MAX_USER_CONNECTIONS 3",
    );
    let Line::Grant {
        require, limits, ..
    } = &line
    else {
        panic!("{line:?}")
    };
    assert_eq!(
        require.as_ref().unwrap(),
        &Requirement::Specified {
            subject: Some("/CN=x'q".into()),
            issuer: Some("/CN=y".into()),
            cipher: Some("ECDHE-RSA-AES256-GCM-SHA384".into()),
        }
    );
    assert_eq!(limits.len(), 2);
    let replay = line.replay_for("'b'@'%'");
    assert_eq!(
        replay,
        "GRANT RELOAD, SUPER ON *.* TO 'b'@'%' WITH MAX_QUERIES_PER_HOUR 10 \
         MAX_USER_CONNECTIONS 3"
    );
    assert!(!replay.contains("0C1C6C"));
    assert!(line.grantee().is("zz", "%"));
}

#[test]
fn column_routine_role_proxy_and_default_role_lines() {
    let line =
        grant("GRANT SELECT (`a`, `b`), INSERT (`a`) ON `d`.`t` TO `app`@`%` WITH GRANT OPTION");
    assert_eq!(
        line.replay_for("X"),
        "GRANT SELECT (`a`, `b`), INSERT (`a`) ON `d`.`t` TO X WITH GRANT OPTION"
    );
    assert_eq!(
        grant("GRANT EXECUTE ON PROCEDURE `d`.`p` TO 'app'@'10.0.%'").replay_for("X"),
        "GRANT EXECUTE ON PROCEDURE `d`.`p` TO X"
    );
    assert_eq!(
        grant("GRANT EXECUTE ON PACKAGE BODY `d`.`p` TO `app`@`%`").replay_for("X"),
        "GRANT EXECUTE ON PACKAGE BODY `d`.`p` TO X"
    );
    assert_eq!(
        grant("GRANT `r1`, `r2` TO `app`@`%` WITH ADMIN OPTION").replay_for("X"),
        "GRANT `r1`, `r2` TO X WITH ADMIN OPTION"
    );
    // MySQL 8 roles carry a host.
    assert_eq!(
        grant("GRANT `r1`@`%`,`r2`@`localhost` TO `app`@`%`").replay_for("X"),
        "GRANT `r1`@`%`, `r2`@`localhost` TO X"
    );
    assert_eq!(
        grant("GRANT PROXY ON ``@`` TO `app`@`%` WITH GRANT OPTION").replay_for("X"),
        "GRANT PROXY ON ``@`` TO X WITH GRANT OPTION"
    );
    assert_eq!(
        grant("SET DEFAULT ROLE `r` FOR `app`@`%`").replay_for("X"),
        "SET DEFAULT ROLE `r` FOR X"
    );
    assert_eq!(
        grant("SET DEFAULT ROLE NONE FOR `app`@`%`").replay_for("X"),
        "SET DEFAULT ROLE NONE FOR X"
    );
}

#[test]
fn mysql8_lines_with_dynamic_privileges_and_partial_revokes() {
    let line =
        grant("GRANT APPLICATION_PASSWORD_ADMIN,AUDIT_ADMIN,BACKUP_ADMIN ON *.* TO `app`@`%`");
    assert_eq!(
        line.replay_for("X"),
        "GRANT APPLICATION_PASSWORD_ADMIN, AUDIT_ADMIN, BACKUP_ADMIN ON *.* TO X"
    );
    let revoke = grant("REVOKE INSERT, UPDATE ON `mysql`.* FROM `app`@`%`");
    assert_eq!(
        revoke.replay_for("X"),
        "REVOKE INSERT, UPDATE ON `mysql`.* FROM X"
    );
    assert!(revoke.grantee().is("app", "%"));
    grant(
        "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, ALTER ROUTINE ON `d`.* TO `app`@`%`",
    );
}

#[test]
fn mariadb_backslash_doubled_names_are_the_user() {
    let line = grant("GRANT SELECT ON `d1`.* TO `we``i'rd\\\\x`@`%`");
    assert!(line.grantee().is("we`i'rd\\x", "%"));
    assert!(!line.grantee().is("other", "%"));
    assert_eq!(
        line.replay_for("'c'@'%'"),
        "GRANT SELECT ON `d1`.* TO 'c'@'%'"
    );
}

#[test]
fn lines_not_understood_are_errors_and_redacted() {
    for line in [
        "GRANT SELECT ON d.t TO `a`@`%`",
        "GRANT ON *.* TO `a`@`%`",
        "GRANT SELECT ON *.* TO \"a\"@\"%\"",
        "GRANT SELECT ON *.* TO `a`@`%` EXTRA",
        "DENY SELECT ON *.* TO `a`@`%`",
    ] {
        assert!(parse(line).is_err(), "{line}");
    }
    assert_eq!(
        redacted("GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED BY PASSWORD '*ABC' BOGUS"),
        "GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED ... (rest withheld)"
    );
}

#[test]
fn writers_of_a_schema_are_found() {
    let lines = |l: &[&str]| l.iter().map(|l| grant(l)).collect::<Vec<_>>();
    assert_eq!(
        writes_schema(
            &lines(&["GRANT SELECT, INSERT ON *.* TO `a`@`%`"]),
            "rotation_function"
        )
        .as_deref(),
        Some("INSERT ON *.*")
    );
    assert_eq!(
        writes_schema(
            &lines(&["GRANT UPDATE ON `rotation_function`.`alternating_pairs` TO `a`@`%`"]),
            "rotation_function"
        )
        .as_deref(),
        Some("UPDATE ON `rotation_function`.`alternating_pairs`")
    );
    assert!(
        writes_schema(
            &lines(&[
                "GRANT SELECT ON *.* TO `a`@`%`",
                "GRANT ALL PRIVILEGES ON `app`.* TO `a`@`%`",
                "GRANT EXECUTE ON PROCEDURE `rotation_function`.`p` TO `a`@`%`",
            ]),
            "rotation_function"
        )
        .is_none()
    );
}

#[test]
fn requirements_are_ordered_by_what_they_ask() {
    let specified = |subject: &str| Requirement::Specified {
        subject: Some(subject.into()),
        issuer: None,
        cipher: None,
    };
    assert!(Requirement::Ssl.at_least(&Requirement::None));
    assert!(Requirement::X509.at_least(&Requirement::Ssl));
    assert!(specified("/CN=a").at_least(&Requirement::X509));
    assert!(specified("/CN=a").at_least(&specified("/CN=a")));
    assert!(Requirement::None.at_least(&Requirement::None));
    assert!(!Requirement::Ssl.at_least(&Requirement::X509));
    assert!(!Requirement::None.at_least(&Requirement::Ssl));
    assert!(!specified("/CN=a").at_least(&specified("/CN=b")));
    assert!(!Requirement::X509.at_least(&specified("/CN=a")));
}

#[test]
fn requirements_render_every_form() {
    assert_eq!(Requirement::None.clause(false), "NONE");
    assert_eq!(Requirement::Ssl.clause(false), "SSL");
    assert_eq!(Requirement::X509.clause(false), "X509");
    let specified = Requirement::Specified {
        subject: Some("/CN=a'b\\".into()),
        issuer: None,
        cipher: Some("AES".into()),
    };
    assert_eq!(
        specified.clause(false),
        "SUBJECT '/CN=a''b\\\\' AND CIPHER 'AES'"
    );
    assert_eq!(
        specified.clause(true),
        "SUBJECT '/CN=a''b\\' AND CIPHER 'AES'"
    );
}

#[test]
fn privileges_are_compared_privilege_by_privilege() {
    let template = [
        "GRANT USAGE ON *.* TO `a`@`%`",
        "GRANT SELECT, INSERT ON `d`.`t` TO `a`@`%`",
        "GRANT SELECT (`x`, `y`) ON `d`.`u` TO `a`@`%`",
        "GRANT ALL PRIVILEGES ON `e`.* TO `a`@`%`",
    ];
    let none: [&str; 0] = [];
    assert!(
        excess_of(
            &template,
            &[
                "GRANT USAGE ON *.* TO `b`@`%`",
                "GRANT SELECT ON `d`.`t` TO `b`@`%`",
                "GRANT SELECT (`y`) ON `d`.`u` TO `b`@`%`",
                "GRANT DROP, ALTER ON `e`.* TO `b`@`%`",
            ]
        )
        .is_empty()
    );
    assert!(excess_of(&template, &none).is_empty());
    assert_eq!(
        excess_of(
            &template,
            &[
                "GRANT RELOAD, SUPER ON *.* TO `b`@`%`",
                "GRANT SELECT, DELETE ON `d`.`t` TO `b`@`%` WITH GRANT OPTION",
                "GRANT SELECT (`z`) ON `d`.`u` TO `b`@`%`",
                "GRANT SELECT ON `d`.* TO `b`@`%`",
            ]
        ),
        [
            "RELOAD ON *.*",
            "SUPER ON *.*",
            "DELETE ON `d`.`t`",
            "WITH GRANT OPTION ON `d`.`t`",
            "SELECT (`z`) ON `d`.`u`",
            "SELECT ON `d`.*",
        ]
    );
    // ALL PRIVILEGES is only covered by ALL PRIVILEGES.
    assert_eq!(
        excess_of(&template, &["GRANT ALL PRIVILEGES ON `d`.`t` TO `b`@`%`"]),
        ["ALL PRIVILEGES ON `d`.`t`"]
    );
}

#[test]
fn roles_and_proxies_beyond_the_template_are_found() {
    let template = ["GRANT `r1` TO `a`@`%`", "GRANT PROXY ON `p`@`%` TO `a`@`%`"];
    assert!(
        excess_of(
            &template,
            &["GRANT `r1` TO `b`@`%`", "GRANT PROXY ON `p`@`%` TO `b`@`%`"]
        )
        .is_empty()
    );
    assert_eq!(
        excess_of(
            &template,
            &[
                "GRANT `r1` TO `b`@`%` WITH ADMIN OPTION",
                "GRANT `r2` TO `b`@`%`",
                "GRANT PROXY ON `root`@`localhost` TO `b`@`%`",
                "GRANT PROXY ON `p`@`%` TO `b`@`%` WITH GRANT OPTION",
            ]
        ),
        [
            "role `r1` WITH ADMIN OPTION",
            "role `r2`",
            "PROXY ON `root`@`localhost`",
            "PROXY ON `p`@`%`",
        ]
    );
}

#[test]
fn a_missing_partial_revoke_is_beyond_the_template() {
    // MySQL 8 with partial_revokes=ON.
    let template = [
        "GRANT SELECT, INSERT ON *.* TO `a`@`%`",
        "REVOKE INSERT ON `mysql`.* FROM `a`@`%`",
    ];
    assert!(
        excess_of(
            &template,
            &[
                "GRANT SELECT, INSERT ON *.* TO `b`@`%`",
                "REVOKE INSERT ON `mysql`.* FROM `b`@`%`",
            ]
        )
        .is_empty()
    );
    assert_eq!(
        excess_of(&template, &["GRANT SELECT, INSERT ON *.* TO `b`@`%`"]),
        ["INSERT ON `mysql`.* (which the user's partial revoke excludes)"]
    );
}

#[test]
fn a_master_grants_what_it_holds_with_the_grant_option_at_or_above_the_object() {
    let template = [
        grant("GRANT SELECT, INSERT ON `app`.`orders` TO `app`@`%`"),
        grant("GRANT SELECT (`name`) ON `app`.`salaries` TO `app`@`%`"),
        grant("GRANT USAGE ON *.* TO `app`@`%`"),
    ];
    let all = [grant(
        "GRANT ALL PRIVILEGES ON *.* TO `admin`@`%` WITH GRANT OPTION",
    )];
    assert!(ungrantable(&all, &template).is_empty());
    let on_db = [grant(
        "GRANT SELECT, INSERT ON `app`.* TO `admin`@`%` WITH GRANT OPTION",
    )];
    assert!(ungrantable(&on_db, &template).is_empty());
    let without_option = [grant("GRANT ALL PRIVILEGES ON *.* TO `admin`@`%`")];
    assert_eq!(ungrantable(&without_option, &template).len(), 3);
    let other_db = [grant(
        "GRANT SELECT ON `other`.* TO `admin`@`%` WITH GRANT OPTION",
    )];
    assert_eq!(
        ungrantable(&other_db, &template),
        [
            "SELECT ON `app`.`orders`",
            "INSERT ON `app`.`orders`",
            "SELECT (`name`) ON `app`.`salaries`"
        ]
    );
}
