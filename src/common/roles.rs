//! Role names and the role hierarchy.
//!
//! A role is a `/`-separated path (`eng/frontend/ci`); `*` is the default role
//! that stands for "unreserved". Names must be usable as directory names.
//! The error messages are Mesos's (`roles::validate`).

/// Why a role name is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RoleError(pub String);

/// The default role: unreserved resources and frameworks without a role.
pub const DEFAULT_ROLE: &str = "*";

/// Characters a role component may not contain: `\t \n \v \f \r`, space, DEL.
const INVALID_CHARACTERS: &[char] = &['\x09', '\x0a', '\x0b', '\x0c', '\x0d', '\x20', '\x7f'];

/// Checks a role name as Mesos does.
pub fn validate(role: &str) -> Result<(), RoleError> {
    if role == DEFAULT_ROLE {
        return Ok(());
    }
    if role.starts_with('/') {
        return Err(RoleError(format!("Role '{role}' cannot start with a slash")));
    }
    if role.ends_with('/') {
        return Err(RoleError(format!("Role '{role}' cannot end with a slash")));
    }
    if role.contains("//") {
        return Err(RoleError(format!("Role '{role}' cannot contain two adjacent slashes")));
    }
    let components: Vec<&str> = role.split('/').filter(|c| !c.is_empty()).collect();
    if components.is_empty() {
        return Err(RoleError("Role names cannot be the empty string".into()));
    }
    for component in components {
        match component {
            "." => return Err(RoleError(format!("Role '{role}' cannot include '.' as a component"))),
            ".." => return Err(RoleError(format!("Role '{role}' cannot include '..' as a component"))),
            "*" => return Err(RoleError(format!("Role '{role}' cannot include '*' as a component"))),
            _ => {}
        }
        if component.starts_with('-') {
            return Err(RoleError(format!("Role component '{component}' is invalid because it starts with a dash")));
        }
        if component.contains(INVALID_CHARACTERS) {
            return Err(RoleError(format!(
                "Role component '{component}' is invalid because it contains backspace or whitespace"
            )));
        }
    }
    Ok(())
}

/// Checks every role; the first error wins.
pub fn validate_all<'a, I: IntoIterator<Item = &'a str>>(roles: I) -> Result<(), RoleError> {
    roles.into_iter().try_for_each(validate)
}

/// Parses a comma-separated role list (`--roles`), dropping empty entries.
pub fn parse(text: &str) -> Result<Vec<String>, RoleError> {
    let roles: Vec<String> = text.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
    validate_all(roles.iter().map(String::as_str))?;
    Ok(roles)
}

/// True iff `left` is a proper descendant of `right`: `a/b` of `a`, but not
/// `a` of `a`, nor `ab` of `a`.
pub fn is_strict_subrole_of(left: &str, right: &str) -> bool {
    left.len() > right.len() && left.as_bytes()[right.len()] == b'/' && left.starts_with(right)
}

/// True iff `role` is `ancestor` or one of its descendants.
pub fn is_in_subtree(role: &str, ancestor: &str) -> bool {
    role == ancestor || is_strict_subrole_of(role, ancestor)
}

/// The ancestors of a (valid) role, nearest first: `a/b/c` gives `a/b`, `a`.
pub fn ancestors(role: &str) -> impl Iterator<Item = &str> {
    role.char_indices().rev().filter(|&(_, c)| c == '/').map(move |(i, _)| &role[..i])
}

/// The parent of a role, if it is nested.
pub fn parent(role: &str) -> Option<&str> {
    role.rfind('/').map(|i| &role[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(role: &str) -> String {
        validate(role).unwrap_err().0
    }

    #[test]
    fn accepts_plain_nested_and_star() {
        for role in ["*", "role1", "a/b/c", "eng.frontend", "a-b", "a/b-c", "x*"] {
            assert!(validate(role).is_ok(), "{role}");
        }
    }

    #[test]
    fn refuses_with_mesos_messages() {
        assert_eq!(err(""), "Role names cannot be the empty string");
        assert_eq!(err("/a"), "Role '/a' cannot start with a slash");
        assert_eq!(err("a/"), "Role 'a/' cannot end with a slash");
        assert_eq!(err("a//b"), "Role 'a//b' cannot contain two adjacent slashes");
        assert_eq!(err("."), "Role '.' cannot include '.' as a component");
        assert_eq!(err("a/.."), "Role 'a/..' cannot include '..' as a component");
        assert_eq!(err("a/*"), "Role 'a/*' cannot include '*' as a component");
        assert_eq!(err("-a"), "Role component '-a' is invalid because it starts with a dash");
        assert_eq!(err("a b"), "Role component 'a b' is invalid because it contains backspace or whitespace");
        assert_eq!(err("/"), "Role '/' cannot start with a slash");
    }

    #[test]
    fn hierarchy_helpers() {
        assert!(is_strict_subrole_of("a/b", "a"));
        assert!(is_strict_subrole_of("a/b/c", "a"));
        assert!(!is_strict_subrole_of("a", "a"));
        assert!(!is_strict_subrole_of("ab", "a"));
        assert!(is_in_subtree("a", "a") && is_in_subtree("a/b", "a"));
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), vec!["a/b", "a"]);
        assert_eq!(ancestors("a").count(), 0);
        assert_eq!(parent("a/b/c"), Some("a/b"));
        assert_eq!(parse("a,,b/c").unwrap(), vec!["a", "b/c"]);
        assert!(parse("a,/b").is_err());
    }
}
