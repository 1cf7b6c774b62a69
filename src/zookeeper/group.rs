//! The election rule, without I/O: which children of the group znode are
//! members, and which member leads.
//!
//! Mesos keeps a "group" of ephemeral sequential znodes under one path (the
//! path of the `zk://` URL). Its rules, reproduced here:
//! - a child's name is split at `_` (empty pieces dropped); the last piece must
//!   be a 32-bit integer (the sequence number ZooKeeper appended), otherwise the
//!   child is not a member and is skipped (Mesos's replicated log keeps
//!   `log_replicas` there, for instance); with more than one piece the first is
//!   the member's *label*;
//! - the leader is the member with the lowest sequence number, whatever its
//!   label: Mesos's detector considers `json.info_` (MasterInfo JSON),
//!   `info_` (MasterInfo protobuf, before Mesos 0.24) and label-less (a bare
//!   UPID, older still) members alike, and only looks at the label to decide
//!   how to read the leader's data.
//!
//! Anything else stored under the group path must therefore have a name that
//! does not end in `_<number>` (or be a number). Note also that pymesos's
//! detector takes the lexicographically smallest child name other than
//! `log_replicas`, whatever it is: a non-member child whose name sorts before
//! `json.info_` would be taken for the leader by pymesos, so keep other data
//! under `<path>/log_replicas/` or outside the group path.

use std::fmt;

/// Label of the znodes holding MasterInfo as JSON (Mesos 0.24 and later).
pub const MASTER_INFO_JSON_LABEL: &str = "json.info";
/// Label of the znodes holding MasterInfo as a serialized protobuf (before 0.24).
pub const MASTER_INFO_LABEL: &str = "info";

/// One member of the group: a child znode whose name ends in a sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    /// The child's name as ZooKeeper lists it, e.g. `json.info_0000000003`.
    pub name: String,
    /// The label (`json.info`, `info`), `None` for a bare sequence number.
    pub label: Option<String>,
    /// The sequence number ZooKeeper gave the znode.
    pub sequence: i32,
}

impl Member {
    /// Reads a child name the way Mesos's group does; `None` for children that
    /// are not members.
    pub fn parse(name: &str) -> Option<Member> {
        let tokens: Vec<&str> = name.split('_').filter(|t| !t.is_empty()).collect();
        let last = tokens.last()?;
        let sequence = parse_i32(last)?;
        let label = (tokens.len() > 1).then(|| tokens[0].to_string());
        Some(Member { name: name.to_string(), label, sequence })
    }

    /// The name Mesos gives a member's znode: `<label>_<sequence as %010d>`.
    pub fn node_name(label: Option<&str>, sequence: i32) -> String {
        match label {
            Some(label) => format!("{label}_{sequence:010}"),
            None => format!("{sequence:010}"),
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// stout's `numify<int32_t>`: an optionally signed decimal number (no spaces),
/// or a `0x`-prefixed hexadecimal one, within `i32`.
fn parse_i32(text: &str) -> Option<i32> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let value: i64 = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || hex.len() > 16 {
            return None;
        }
        i64::from_str_radix(hex, 16).ok()?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()?
    };
    i32::try_from(if negative { -value } else { value }).ok()
}

/// The members among `children` (non-members dropped), lowest sequence first.
pub fn members<S: AsRef<str>>(children: &[S]) -> Vec<Member> {
    let mut members: Vec<Member> = children.iter().filter_map(|c| Member::parse(c.as_ref())).collect();
    members.sort_by(|a, b| a.sequence.cmp(&b.sequence).then_with(|| a.name.cmp(&b.name)));
    members
}

/// The leader among `children`: the member with the lowest sequence number.
pub fn leader<S: AsRef<str>>(children: &[S]) -> Option<Member> {
    children
        .iter()
        .filter_map(|c| Member::parse(c.as_ref()))
        .min_by(|a, b| a.sequence.cmp(&b.sequence).then_with(|| a.name.cmp(&b.name)))
}

/// Joins the group path and a child name (the root group is the empty string).
pub fn child_path(group: &str, child: &str) -> String {
    format!("{}/{child}", group.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child name, and the (label, sequence) it reads as, if a member.
    type Case = (&'static str, Option<(Option<&'static str>, i32)>);

    #[test]
    fn reads_child_names_like_mesos() {
        let cases: &[Case] = &[
            ("json.info_0000000003", Some((Some("json.info"), 3))),
            ("info_0000000012", Some((Some("info"), 12))),
            ("0000000007", Some((None, 7))),
            // Empty pieces are dropped: a leading '_' leaves no label.
            ("_0000000001", Some((None, 1))),
            ("json.info__0000000004", Some((Some("json.info"), 4))),
            // More pieces: the first is the label, the last the sequence.
            ("a_b_0000000009", Some((Some("a"), 9))),
            // ZooKeeper's counter wraps to negative numbers past 2^31 - 1.
            ("json.info_-2147483648", Some((Some("json.info"), i32::MIN))),
            ("json.info_2147483647", Some((Some("json.info"), i32::MAX))),
            ("x_0x1f", Some((Some("x"), 31))),
            ("x_+5", Some((Some("x"), 5))),
            // Not members.
            ("log_replicas", None),
            ("registry", None),
            ("json.info_", None),
            ("json.info_2147483648", None),
            ("json.info_12a", None),
            ("json.info_ 1", None),
            ("", None),
            ("___", None),
            ("x_-", None),
            ("x_0x", None),
        ];
        for (name, expected) in cases {
            let got = Member::parse(name).map(|m| (m.label, m.sequence));
            let expected = expected.map(|(l, s)| (l.map(str::to_string), s));
            assert_eq!(got, expected, "{name:?}");
        }
    }

    #[test]
    fn names_nodes_like_mesos() {
        assert_eq!(Member::node_name(Some("json.info"), 3), "json.info_0000000003");
        assert_eq!(Member::node_name(None, 42), "0000000042");
        assert_eq!(Member::node_name(Some("info"), -1), "info_-000000001");
    }

    #[test]
    fn lowest_sequence_leads_whatever_the_label() {
        let children = ["json.info_0000000005", "log_replicas", "info_0000000004", "json.info_0000000002"];
        assert_eq!(leader(&children).unwrap().name, "json.info_0000000002");
        let children = ["json.info_0000000005", "info_0000000004", "0000000003"];
        assert_eq!(leader(&children).unwrap().name, "0000000003");
        assert_eq!(leader(&["log_replicas", "registry"]), None);
        assert_eq!(leader::<&str>(&[]), None);
        let order: Vec<String> = members(&["json.info_0000000010", "x", "json.info_0000000002", "info_0000000007"])
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(order, ["json.info_0000000002", "info_0000000007", "json.info_0000000010"]);
    }

    #[test]
    fn joins_paths() {
        assert_eq!(child_path("/mesos", "json.info_0000000001"), "/mesos/json.info_0000000001");
        assert_eq!(child_path("/mesos/", "x"), "/mesos/x");
        assert_eq!(child_path("", "x"), "/x");
    }
}
