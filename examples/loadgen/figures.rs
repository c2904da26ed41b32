//! Figures repeated over runs: each keeps every run's value and reports the median
//! and the range. Kept in insertion order, which is the order of the report.

/// One figure, e.g. "fan-out deliveries per second", with a value per run.
pub struct Fig {
    pub key: String,
    pub label: String,
    pub unit: &'static str,
    pub runs: Vec<f64>,
}

impl Fig {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.runs.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

#[derive(Default)]
pub struct Figures {
    pub all: Vec<Fig>,
}

impl Figures {
    /// Adds one run's value to the figure `key`, creating it on first use.
    pub fn add(&mut self, key: &str, label: &str, unit: &'static str, value: f64) {
        match self.all.iter_mut().find(|f| f.key == key) {
            Some(f) => f.runs.push(value),
            None => self.all.push(Fig {
                key: key.to_owned(),
                label: label.to_owned(),
                unit,
                runs: vec![value],
            }),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Fig> {
        self.all.iter().find(|f| f.key == key)
    }

    pub fn median(&self, key: &str) -> f64 {
        self.get(key).map_or(f64::NAN, Fig::median)
    }
}

/// A number for people: thousands separated, few decimals when small.
pub fn human(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let n = v.round() as i64;
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        if n < 0 { format!("-{out}") } else { out }
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `median (min–max)`, or just the value when every run agrees.
pub fn spread(f: &Fig) -> String {
    let (med, lo, hi) = (human(f.median()), human(f.min()), human(f.max()));
    if lo == hi {
        med
    } else {
        format!("{med} ({lo}–{hi})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_ranges_and_numbers() {
        let mut f = Figures::default();
        for v in [3.0, 1.0, 2.0] {
            f.add("x", "x", "u", v);
        }
        let x = f.get("x").expect("added");
        assert_eq!((x.median(), x.min(), x.max()), (2.0, 1.0, 3.0));
        assert_eq!(spread(x), "2 (1–3)");
        assert_eq!(human(1_234_567.4), "1,234,567");
        assert_eq!(human(2.345), "2.35");
    }
}
