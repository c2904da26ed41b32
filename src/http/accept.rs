//! Whether a request accepts a gzip-coded response, by its `Accept-Encoding` fields
//! (RFC 9110 §12.5.3). The page's files are embedded gzip-compressed only: the binary
//! holds no decompressor, so a client that refuses gzip cannot be served them.

/// What the `Accept-Encoding` fields of one request said, read field by field (several
/// fields are one comma-separated list).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    /// Whether any `Accept-Encoding` field was sent: without one, any coding is fine.
    present: bool,
    /// Whether `gzip` (or `x-gzip`) was listed with a non-zero weight; `None` if not
    /// listed (or only with an unreadable weight).
    gzip: Option<bool>,
    /// The same for `*`, which stands for every coding not listed by name.
    any: Option<bool>,
}

impl AcceptEncoding {
    /// Reads one `Accept-Encoding` field value, e.g. `gzip, deflate;q=0.5, *;q=0`.
    pub fn add(&mut self, value: &str) {
        self.present = true;
        for element in value.split(',') {
            let mut parts = element.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let slot =
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                    &mut self.gzip
                } else if coding == "*" {
                    &mut self.any
                } else {
                    continue;
                };
            let weight = parts.find_map(|p| {
                let (name, v) = p.split_once('=')?;
                name.trim().eq_ignore_ascii_case("q").then(|| v.trim())
            });
            // An element whose weight cannot be read says nothing; if a coding is listed
            // twice, the later element wins, as with a repeated field.
            if let Some(ok) = weight.map_or(Some(true), nonzero) {
                *slot = Some(ok);
            }
        }
    }

    /// Whether a gzip-coded response is acceptable. No field: yes (any coding is). An
    /// empty field or one naming neither `gzip` nor `*` asks for no coding: no.
    pub fn allows_gzip(&self) -> bool {
        !self.present || self.gzip.or(self.any).unwrap_or(false)
    }
}

/// Whether a qvalue (`0`, `0.5`, `1.000`; at most three decimals, at most 1) is above
/// zero; `None` if it is not a qvalue.
fn nonzero(q: &str) -> Option<bool> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match int {
        "0" => Some(frac.bytes().any(|b| b != b'0')),
        "1" if frac.bytes().all(|b| b == b'0') => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(fields: &[&str]) -> bool {
        let mut accept = AcceptEncoding::default();
        for f in fields {
            accept.add(f);
        }
        accept.allows_gzip()
    }

    #[test]
    fn no_field_accepts_any_coding_so_gzip() {
        assert!(allows(&[]));
    }

    #[test]
    fn gzip_or_a_star_with_a_weight_above_zero_is_accepted() {
        for field in [
            "gzip",
            "gzip, deflate, br, zstd",
            "GZip",
            "x-gzip",
            "deflate , gzip ;q=0.001",
            "gzip;Q=1.000",
            "gzip; q = 0.5",
            "*",
            "br, *;q=0.1",
            "identity;q=0, *",
            "gzip;level=9",
        ] {
            assert!(allows(&[field]), "{field:?}");
        }
        // Several fields are one list.
        assert!(allows(&["br", "gzip"]));
    }

    #[test]
    fn a_field_that_excludes_gzip_refuses_it() {
        for field in [
            "",
            " ",
            "identity",
            "br, deflate",
            "gzip;q=0",
            "gzip;q=0.000",
            "gzip;q=0, *",
            "*;q=0",
            "*;q=0, identity",
            "gzipx, x-gzip2",
            // Unreadable weights say nothing, so gzip is not listed.
            "gzip;q=2",
            "gzip;q=0.0001",
            "gzip;q=-1",
            "gzip;q=",
            "gzip;q=1.5",
        ] {
            assert!(!allows(&[field]), "{field:?}");
        }
        // A named gzip is judged by its own weight, whatever `*` says.
        assert!(!allows(&["*;q=1", "gzip;q=0"]));
        assert!(allows(&["*;q=0", "gzip;q=0.2"]));
        // The later of two elements for gzip wins.
        assert!(!allows(&["gzip, gzip;q=0"]));
    }

    #[test]
    fn weights_are_read_as_rfc_9110_qvalues() {
        let cases = [
            ("0", Some(false)),
            ("0.", Some(false)),
            ("0.000", Some(false)),
            ("0.01", Some(true)),
            ("1", Some(true)),
            ("1.0", Some(true)),
            ("1.001", None),
            ("01", None),
            (".5", None),
            ("0.5x", None),
            ("0.1234", None),
            ("", None),
        ];
        for (q, want) in cases {
            assert_eq!(nonzero(q), want, "{q:?}");
        }
    }
}
