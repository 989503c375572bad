//! Variable resolution for command rules: `a=r; b=m; $a$b` becomes `rm`.
//!
//! Split out of `command/rules.rs`. Only assignments made earlier on the same line (and `IFS`,
//! taken as a space) are known; expansion does word splitting like an unquoted shell word.

use super::{Segment, assignment};

/// Most variables remembered for `$a$b` resolution.
const MAX_VARS: usize = 64;

/// Substitutes variables assigned earlier on the line (and `IFS`), with word splitting.
pub(super) fn resolve(segs: &[Segment]) -> Vec<Vec<String>> {
    let mut vars: Vec<(String, String)> = vec![("IFS".into(), " ".into())];
    let set = |vars: &mut Vec<(String, String)>, k: &str, v: &str| {
        vars.retain(|(n, _)| n != k);
        if vars.len() < MAX_VARS {
            vars.push((k.to_string(), v.to_string()));
        }
    };
    let mut out = Vec::with_capacity(segs.len());
    for s in segs {
        if s.argv.is_empty() {
            for (k, v) in &s.env {
                set(&mut vars, k, v);
            }
        }
        if s.argv.first().is_some_and(|a| {
            matches!(
                a.as_str(),
                "export" | "declare" | "local" | "readonly" | "typeset"
            )
        }) {
            for (k, v) in s.argv[1..].iter().filter_map(|a| assignment(a)) {
                set(&mut vars, k, v);
            }
        }
        let mut argv = Vec::with_capacity(s.argv.len());
        for w in &s.argv {
            match expand(w, &vars) {
                Some(e) => argv.extend(e.split_whitespace().map(str::to_string)),
                None => argv.push(w.clone()),
            }
        }
        out.push(argv);
    }
    out
}

/// `w` with known `$name`/`${name}` replaced, or None when nothing was replaced.
fn expand(w: &str, vars: &[(String, String)]) -> Option<String> {
    if !w.contains('$') || w.starts_with("$(") {
        return None;
    }
    let mut out = String::with_capacity(w.len());
    let mut changed = false;
    let mut rest = w;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, used) = if let Some(b) = after.strip_prefix('{') {
            match b.find('}') {
                Some(e) => (&b[..e], e + 2),
                None => ("", 0),
            }
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..n], n)
        };
        match vars.iter().find(|(k, _)| k == name) {
            Some((_, v)) if !name.is_empty() => {
                out.push_str(v);
                changed = true;
                rest = &after[used..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}
