//! When two aliases name the same member: their skeletons are equal (**extension**,
//! PROTOCOL.md section 5). Case alone never told members apart; neither do the ASCII
//! look-alikes a reader cannot tell from each other in a member list (`AIice`, `A1ice`
//! and `Alice`; `rnallory` and `mallory`). Every comparison of aliases that is not an
//! exact match (uniqueness, the resume-token seat, kick and self-kick, the rejoin hint)
//! goes through [`same`], so the server's rule lives here only. The page keeps a copy
//! for its member list (`aliasSkeleton` in html/session.js); both are tested against
//! tests/vectors/aliases.json.
//!
//! The table is small on purpose: it folds what looks alike in common fonts, not
//! everything that might, so ordinary names stay apart (`alice2` and `alice`, `ana`
//! and `anna`, `clara` and `dara`).

/// The alias reduced to what a reader sees: ASCII lowercase; `1`, `i`, `l` → `l`
/// (`I`, `l` and `1` are one stroke in many fonts, and `i` is `I` lowercased);
/// `0` → `o`; `5` → `s`; `2` → `z`; `8` → `b`; the separators `.`, `_`, `-` dropped
/// (easily missed, or taken for each other); then, left to right, `rn` → `m` and
/// `vv` → `w`.
pub fn skeleton(alias: &str) -> String {
    let mut out = String::with_capacity(alias.len());
    for c in alias.chars() {
        let c = match c.to_ascii_lowercase() {
            '1' | 'i' => 'l',
            '0' => 'o',
            '5' => 's',
            '2' => 'z',
            '8' => 'b',
            '.' | '_' | '-' => continue,
            c => c,
        };
        // Pairs fold as they complete: the previous letter is already in `out`.
        match (out.chars().last(), c) {
            (Some('r'), 'n') => {
                out.pop();
                out.push('m');
            }
            (Some('v'), 'v') => {
                out.pop();
                out.push('w');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether `a` and `b` would pass for each other: the same skeleton.
pub fn same(a: &str, b: &str) -> bool {
    skeleton(a) == skeleton(b)
}

#[cfg(test)]
mod tests {
    //! The cases live in tests/vectors/aliases.json, which the page's copy of the rule
    //! (html/session.js) is checked against too.

    use super::*;
    use serde_json::Value;

    fn cases(key: &str) -> Vec<(String, String)> {
        let all: Value = serde_json::from_str(include_str!("../tests/vectors/aliases.json"))
            .expect("aliases.json is JSON");
        let pairs = all[key].as_array().expect("a list of pairs");
        let cases: Vec<(String, String)> = pairs
            .iter()
            .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].as_str()?.to_owned())))
            .collect();
        assert_eq!(
            cases.len(),
            pairs.len(),
            "{key}: every case is a pair of strings"
        );
        assert!(!cases.is_empty());
        cases
    }

    #[test]
    fn skeletons_are_as_listed() {
        for (alias, skel) in cases("skeletons") {
            assert_eq!(skeleton(&alias), skel, "{alias}");
        }
    }

    #[test]
    fn the_issues_look_alikes_fold_together() {
        for (a, b) in cases("same") {
            assert!(same(&a, &b), "{a} and {b}");
        }
    }

    #[test]
    fn ordinary_names_stay_apart() {
        for (a, b) in cases("different") {
            assert!(!same(&a, &b), "{a} and {b}");
        }
    }
}
