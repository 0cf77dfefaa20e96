//! Two users' grants compared: what one holds beyond the other, what a master cannot grant.

use super::*;

/// What `target`'s grants hold beyond `template`'s, each named, e.g. `SUPER ON *.*`.
///
/// Privileges are compared at the same level only: a table privilege of `target` counts as
/// beyond the template even when the template holds it on the whole database. That refuses
/// some harmless partners, never a dangerous one, and a partner made by this function always
/// holds the template's own lines.
pub fn excess(template: &[Line], target: &[Line]) -> Vec<String> {
    let mut found = Vec::new();
    let template_grants: Vec<(&Object, &[Privilege], bool)> = template
        .iter()
        .filter_map(|line| match line {
            Line::Grant {
                object,
                privileges,
                grant_option,
                ..
            } => Some((object, privileges.as_slice(), *grant_option)),
            _ => None,
        })
        .collect();
    let covered = |object: &Object, privilege: &Privilege| {
        template_grants
            .iter()
            .filter(|(o, _, _)| *o == object)
            .flat_map(|(_, p, _)| p.iter())
            .any(|held| {
                (held.is_all() && (!privilege.is_all() || held.columns.is_empty()))
                    || (held.name == privilege.name
                        && (held.columns.is_empty()
                            || privilege.columns.iter().all(|c| held.columns.contains(c))))
            })
    };
    for line in target {
        match line {
            Line::Grant {
                privileges,
                object,
                grant_option,
                ..
            } => {
                for privilege in privileges {
                    if privilege.name != "USAGE" && !covered(object, privilege) {
                        found.push(format!("{} ON {object}", privilege.render()));
                    }
                }
                if *grant_option
                    && !template_grants
                        .iter()
                        .any(|(o, _, option)| *o == object && *option)
                {
                    found.push(format!("WITH GRANT OPTION ON {object}"));
                }
            }
            Line::Roles {
                roles,
                admin_option,
                ..
            } => {
                for role in roles {
                    let held = template.iter().any(|t| match t {
                        Line::Roles {
                            roles: r,
                            admin_option: a,
                            ..
                        } => r.iter().any(|r| r.raw == role.raw) && (*a || !admin_option),
                        _ => false,
                    });
                    if !held {
                        let option = if *admin_option {
                            " WITH ADMIN OPTION"
                        } else {
                            ""
                        };
                        found.push(format!("role {}{option}", role.raw));
                    }
                }
            }
            Line::Proxy {
                proxied,
                grant_option,
                ..
            } => {
                let held = template.iter().any(|t| match t {
                    Line::Proxy {
                        proxied: p,
                        grant_option: g,
                        ..
                    } => p.raw == proxied.raw && (*g || !grant_option),
                    _ => false,
                });
                if !held {
                    found.push(format!("PROXY ON {}", proxied.raw));
                }
            }
            Line::Revoke { .. } | Line::DefaultRole { .. } => {}
        }
    }
    // A partial revoke of the template that the target lacks, while the target holds the
    // privilege globally: the target reaches what the template may not.
    let global = |lines: &[Line], name: &str| {
        lines.iter().any(|line| match line {
            Line::Grant {
                privileges, object, ..
            } => {
                object.is_global()
                    && privileges
                        .iter()
                        .any(|p| p.columns.is_empty() && (p.is_all() || p.name == name))
            }
            _ => false,
        })
    };
    for line in template {
        if let Line::Revoke {
            privileges, object, ..
        } = line
        {
            for privilege in privileges {
                let revoked_too = target.iter().any(|t| match t {
                    Line::Revoke {
                        privileges: p,
                        object: o,
                        ..
                    } => o == object && p.iter().any(|p| p.is_all() || p.name == privilege.name),
                    _ => false,
                });
                if global(target, &privilege.name) && !revoked_too {
                    found.push(format!(
                        "{} ON {object} (which the user's partial revoke excludes)",
                        privilege.name
                    ));
                }
            }
        }
    }
    found.dedup();
    found
}

/// A grant among `lines` that lets its holder write tables of `schema` (as a name, unquoted):
/// a writing privilege on `*.*`, on `schema`.*, or on one of its tables. `None` when there is
/// none. Grants through roles are not followed.
pub fn writes_schema(lines: &[Line], schema: &str) -> Option<String> {
    const WRITES: [&str; 9] = [
        "ALL",
        "ALL PRIVILEGES",
        "INSERT",
        "UPDATE",
        "DELETE",
        "DROP",
        "ALTER",
        "CREATE",
        "INDEX",
    ];
    let quoted = crate::db::mysql::quote_identifier(schema);
    lines.iter().find_map(|line| match line {
        Line::Grant {
            privileges, object, ..
        } if object.is_global()
            || (matches!(object.kind.as_deref(), None | Some("TABLE")) && object.db == quoted) =>
        {
            privileges
                .iter()
                .find(|p| WRITES.contains(&p.name.as_str()))
                .map(|p| format!("{} ON {object}", p.render()))
        }
        _ => None,
    })
}

/// The privileges of `template` that `master` cannot grant: MySQL lets a user grant a privilege
/// it holds with the grant option on the same object or a level above it (`*.*`, then
/// `db.*`). Unlike [`excess`], levels count here, since this only decides what a preflight
/// reports, never what a rotation may change. Role and proxy grants are left to the server.
pub fn ungrantable(master: &[Line], template: &[Line]) -> Vec<String> {
    let held: Vec<(&Object, &[Privilege])> = master
        .iter()
        .filter_map(|line| match line {
            Line::Grant {
                object,
                privileges,
                grant_option: true,
                ..
            } => Some((object, privileges.as_slice())),
            _ => None,
        })
        .collect();
    let covers = |above: &Object, object: &Object| {
        above.is_global()
            || above == object
            || (above.kind.is_none() && above.name == "*" && above.db == object.db)
    };
    let mut found = Vec::new();
    for line in template {
        let Line::Grant {
            privileges, object, ..
        } = line
        else {
            continue;
        };
        for privilege in privileges {
            if privilege.name == "USAGE" {
                continue;
            }
            let granted = held.iter().any(|(above, p)| {
                covers(above, object)
                    && p.iter()
                        .any(|h| h.is_all() || (h.name == privilege.name && h.columns.is_empty()))
            });
            if !granted {
                found.push(format!("{} ON {object}", privilege.render()));
            }
        }
    }
    found
}
