//! The alternate user's plan: what the catalog says about the user, its partner and the
//! master, judged by a pure function (refused partners and templates), tested offline.

use super::*;

/// What the clone does with the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartnerPlan {
    /// It does not exist: create it as a member of the user.
    Create,
    /// It is the original the user (a clone) is a member of: set its password only.
    Original,
    /// It is the user's clone: make its attributes and settings the user's, set its password.
    Clone,
}

/// A role as the catalog describes it.
pub(super) struct RoleFacts<'a> {
    pub(super) name: &'a str,
    pub(super) info: &'a RoleInfo,
    pub(super) memberships: &'a [Membership],
}

/// Decides, from catalog rows alone (so every case is tested offline), whether `template` may
/// be copied and what `target`, the partner, is. `masters` are the session's login and current
/// users. Refuses a template an application user would never be (the master, a superuser, a
/// role manager) and a partner that is not tied to the template, or holds more than the pair
/// shares; what the cluster records beyond these rows (owned objects, grants) is checked after.
pub(super) fn plan_partner(
    masters: &[&str],
    template: &RoleFacts<'_>,
    target: &str,
    partner: Option<RoleFacts<'_>>,
) -> Result<PartnerPlan, RotationError> {
    let unsafe_template = |problem: String| RotationError::UnsafeTemplate {
        user: template.name.to_owned(),
        problem,
    };
    let refuse = |problem: String| RotationError::UnsafePartner {
        user: target.to_owned(),
        problem,
    };
    if masters.contains(&template.name) {
        return Err(unsafe_template(format!(
            "`{}` is the master user this function logs in as",
            template.name
        )));
    }
    if template.info.superuser {
        return Err(unsafe_template(format!(
            "`{}` is a superuser",
            template.name
        )));
    }
    if template.info.createrole {
        return Err(unsafe_template(format!(
            "`{}` has CREATEROLE (it may create and change other roles)",
            template.name
        )));
    }
    let administered = admin_of(template.memberships);
    if !administered.is_empty() {
        return Err(unsafe_template(format!(
            "`{}` holds ADMIN OPTION on {}",
            template.name,
            backticked(&administered)
        )));
    }
    if masters.contains(&target) {
        return Err(refuse(format!(
            "`{target}` is the master user this function logs in as"
        )));
    }
    let Some(partner) = partner else {
        return Ok(PartnerPlan::Create);
    };
    if partner.info.superuser {
        return Err(refuse(format!("`{target}` is a superuser")));
    }
    if partner.info.createrole {
        return Err(refuse(format!(
            "`{target}` has CREATEROLE (it may create and change other roles)"
        )));
    }
    let administered = admin_of(partner.memberships);
    if !administered.is_empty() {
        return Err(refuse(format!(
            "`{target}` holds ADMIN OPTION on {}",
            backticked(&administered)
        )));
    }
    let template_in_partner = template.memberships.iter().find(|m| m.role == target);
    let partner_in_template = partner.memberships.iter().any(|m| m.role == template.name);

    if let Some(membership) = template_in_partner {
        // `target` is the original and the user its clone. The clone must really act as it
        // (on 16+ a membership may grant neither), and the original must be a login user that
        // holds nothing its clone does not: else its password, which the secret's writer will
        // read, opens more than the pair.
        if !(membership.set && membership.inherit) {
            return Err(refuse(format!(
                "`{}` is a member of `{target}` without {}: the pair's clone must SET and \
                 INHERIT the original",
                template.name,
                match (membership.set, membership.inherit) {
                    (false, false) => "SET or INHERIT",
                    (false, true) => "SET",
                    _ => "INHERIT",
                }
            )));
        }
        if !partner.info.can_login {
            return Err(refuse(format!(
                "`{target}` is NOLOGIN (a group role); the function never makes a role a login \
                 user"
            )));
        }
        let beyond = attributes_beyond(partner.info, template.info);
        if !beyond.is_empty() {
            return Err(refuse(format!(
                "`{target}` has {}, which `{}` does not",
                beyond.join(", "),
                template.name
            )));
        }
        return Ok(PartnerPlan::Original);
    }
    if !partner_in_template {
        return Err(refuse(format!(
            "`{target}` is not this pair's partner: neither it nor `{}` is a member of the other",
            template.name
        )));
    }
    // `target` is the clone: it must hold nothing but its membership in `template`.
    let mut found = Vec::new();
    let others: Vec<&str> = partner
        .memberships
        .iter()
        .filter(|m| m.role != template.name)
        .map(|m| m.role.as_str())
        .collect();
    if !others.is_empty() {
        found.push(format!("is a member of {}", backticked(&others)));
    }
    let beyond = attributes_beyond(partner.info, template.info);
    if !beyond.is_empty() {
        found.push(format!(
            "has {}, which `{}` does not",
            beyond.join(", "),
            template.name
        ));
    }
    if !found.is_empty() {
        return Err(refuse(format!(
            "`{target}` holds more than the pair shares: it {}",
            found.join("; it ")
        )));
    }
    Ok(PartnerPlan::Clone)
}

/// The roles a membership list holds with ADMIN OPTION.
pub(super) fn admin_of(memberships: &[Membership]) -> Vec<&str> {
    memberships
        .iter()
        .filter(|m| m.admin)
        .map(|m| m.role.as_str())
        .collect()
}

/// The role attributes `role` has and `other` does not, among those that reach beyond the
/// pair's own objects.
pub(super) fn attributes_beyond(role: &RoleInfo, other: &RoleInfo) -> Vec<&'static str> {
    [
        (role.createdb, other.createdb, "CREATEDB"),
        (role.bypassrls, other.bypassrls, "BYPASSRLS"),
        (role.replication, other.replication, "REPLICATION"),
        (role.createrole, other.createrole, "CREATEROLE"),
    ]
    .into_iter()
    .filter(|(has, other_has, _)| *has && !other_has)
    .map(|(_, _, name)| name)
    .collect()
}

/// Settings per database name ("" for all databases), then per setting name.
pub(super) type Settings = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug)]
pub(super) struct RoleInfo {
    pub(super) superuser: bool,
    pub(super) createrole: bool,
    pub(super) createdb: bool,
    pub(super) bypassrls: bool,
    pub(super) replication: bool,
    pub(super) connection_limit: i32,
    pub(super) valid_until: String,
    pub(super) can_login: bool,
}

/// A direct membership of a role in another, with its options.
#[derive(Debug)]
pub(super) struct Membership {
    pub(super) role: String,
    pub(super) admin: bool,
    /// PostgreSQL 16+: the member may `SET ROLE` to it (always before 16).
    pub(super) set: bool,
    /// PostgreSQL 16+: the member holds its privileges (always before 16).
    pub(super) inherit: bool,
}

/// What decides whether the master may carry an attribute over.
pub(super) struct Master {
    pub(super) name: String,
    pub(super) superuser: bool,
    pub(super) replication: bool,
    pub(super) version: i32,
}

pub(super) fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
