//! Group-chat activation: whether a channel turn wakes the agent at all.
//!
//! In a group the agent answers only when addressed (`Activation::Mention`, the default) or to
//! every message (`Activation::Always`). Operator turns and direct messages always run.
//! `Scheduler::submit` asks [`Activation::admits`] before anything is queued, so an unaddressed
//! group message costs no queue slot.
//!
//! Mention detection is plain text matching against the agent's names; it does no I/O and keeps
//! no state, so it is table-tested below.

use super::Origin;

/// When a group-chat turn wakes the agent; wire names `"mention"` and `"always"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// Run only when the message mentions the agent (platform flag or a name in the text).
    #[default]
    Mention,
    /// Run for every group message.
    Always,
}

impl Activation {
    /// Parses a wire name; unknown names are `None`, never a silent default.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mention" => Some(Self::Mention),
            "always" => Some(Self::Always),
            _ => None,
        }
    }

    /// The wire name, the inverse of [`Activation::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mention => "mention",
            Self::Always => "always",
        }
    }

    /// Whether a turn from `origin` with `text` should run, given the agent's `names`.
    ///
    /// Only group channel turns under `Mention` can be refused: they run when the platform
    /// flagged a mention or when [`mentions`] finds one in the text.
    pub fn admits(self, origin: Origin, text: &str, names: &[&str]) -> bool {
        match origin {
            Origin::Channel {
                group: true,
                mentioned,
            } if self == Self::Mention => mentioned || mentions(text, names),
            _ => true,
        }
    }
}

/// Whether `text` addresses one of `names`, case-insensitively.
///
/// Matches `@name` anywhere when followed by a non-word character or the end (`"@edgebot,"`
/// matches, `"@edgebotx"` does not), and the bare name at the start of the text (after leading
/// whitespace) followed by `,` or `:` (`"Edgebot: hi"`). Empty names, and a leading `@` on a
/// name, are ignored.
pub fn mentions(text: &str, names: &[&str]) -> bool {
    let mut lower: Option<String> = None;
    names
        .iter()
        .map(|n| n.trim().trim_start_matches('@'))
        .filter(|n| !n.is_empty())
        .any(|name| {
            let text = lower.get_or_insert_with(|| text.to_lowercase());
            let name = name.to_lowercase();
            at_mention(text, &name) || leading_address(text, &name)
        })
}

/// `@name` followed by a non-word character or the end of the text.
fn at_mention(text: &str, name: &str) -> bool {
    let needle = format!("@{name}");
    text.match_indices(&needle)
        .any(|(i, m)| !text[i + m.len()..].chars().next().is_some_and(is_word))
}

/// `name,` or `name:` as the first word of the text.
fn leading_address(text: &str, name: &str) -> bool {
    text.trim_start()
        .strip_prefix(name)
        .is_some_and(|rest| rest.starts_with([',', ':']))
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mention_table() {
        let names = ["EdgeBot", "", "@claw"];
        let table: &[(&str, bool)] = &[
            ("@edgebot hi", true),
            ("hey @EDGEBOT", true),
            ("@edgebot, are you there", true),
            ("@edgebot", true),
            ("(@edgebot)", true),
            ("@edgebotx hi", false),
            ("@edgebot_2 hi", false),
            ("edgebot: hi", true),
            ("Edgebot, status?", true),
            ("  edgebot: leading space", true),
            ("edgebot hi", false),
            ("hi edgebot: there", false),
            ("edgebots: plural", false),
            ("email me at x@edgebotx.com", false),
            ("@claw ping", true),
            ("claw: ping", true),
            ("@", false),
            ("", false),
            ("nothing here", false),
        ];
        assert!(!table.is_empty());
        for (text, want) in table {
            assert_eq!(mentions(text, &names), *want, "text {text:?}");
        }
    }

    #[test]
    fn empty_names_match_nothing() {
        assert!(!mentions("@ hi", &[""]));
        assert!(!mentions(": hi", &["", "  "]));
        assert!(!mentions("@edgebot", &[]));
    }

    #[test]
    fn admits_only_refuses_unmentioned_group_turns_under_mention() {
        let names = ["edgebot"];
        let group = |mentioned| Origin::Channel {
            group: true,
            mentioned,
        };
        let direct = Origin::Channel {
            group: false,
            mentioned: false,
        };
        let m = Activation::Mention;
        assert!(!m.admits(group(false), "hello all", &names));
        assert!(m.admits(group(true), "hello all", &names));
        assert!(m.admits(group(false), "@edgebot hello", &names));
        assert!(m.admits(direct, "hello", &names));
        assert!(m.admits(Origin::Operator, "hello", &names));
        assert!(Activation::Always.admits(group(false), "hello all", &names));
    }

    #[test]
    fn wire_names_round_trip() {
        for a in [Activation::Mention, Activation::Always] {
            assert_eq!(Activation::parse(a.as_str()), Some(a));
        }
        assert_eq!(Activation::parse("Mention"), None);
        assert_eq!(Activation::default(), Activation::Mention);
    }
}
