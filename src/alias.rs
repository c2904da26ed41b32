//! When two aliases name the same member: their skeletons are equal (**extension**,
//! PROTOCOL.md section 5). Case alone never told members apart; neither do the ASCII
//! look-alikes a reader cannot tell from each other in a member list (`AIice`, `A1ice`
//! and `Alice`; `rnallory` and `mallory`). Every comparison of aliases that is not an
//! exact match (uniqueness, the resume-token seat, kick and self-kick, the rejoin hint)
//! goes through [`same`], so the rule lives here only.
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
    use super::*;

    #[test]
    fn the_issues_look_alikes_fold_together() {
        for twin in [
            "AIice", "A1ice", "ALICE", "alice", "Al1ce", "a.lice", "al_ice",
        ] {
            assert!(same("Alice", twin), "{twin}");
        }
        assert!(same("mallory", "rnallory"));
        assert!(same("tom", "torn"), "rn is m in a member list");
        assert!(same("MALLORY", "RNALLORY"));
        assert!(same("wendy", "vvendy"));
        assert!(same("bob", "B0B"));
        assert!(same("sam", "5am"));
        assert!(same("zoe", "2oe"));
        assert!(same("bob", "8ob"));
    }

    #[test]
    fn ordinary_names_stay_apart() {
        for (a, b) in [
            ("alice", "alice2"),
            ("alice", "bob"),
            ("ana", "anna"),
            ("clara", "dara"),
            ("mallory", "malory"),
            ("m", "n"),
            ("vv", "v"),
            ("bob", "rob"),
            ("tom", "ton"),
        ] {
            assert!(!same(a, b), "{a} and {b}");
        }
    }

    #[test]
    fn pairs_fold_once_and_left_to_right() {
        assert_eq!(skeleton("rnn"), "mn");
        assert_eq!(skeleton("vvv"), "wv");
        assert_eq!(skeleton("r-n"), "m", "a separator does not hide a pair");
        assert_eq!(skeleton("rrn"), "rm");
        assert_eq!(skeleton("___"), "");
    }
}
