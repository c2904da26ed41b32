//! The same bench on two machines side by side: this one (`make bench`, written to
//! DIR) and the simulated one with costlier system calls (`make bench-slow`, written
//! to DIR/slow). Whichever run ends last rewrites the comparison at the end of
//! DIR/RESULTS.md from both runs' results.json, so it always pairs the latest two.

use std::path::Path;

use serde_json::Value;

/// Where the comparison starts in DIR/RESULTS.md; everything after it is rewritten.
const HEADING: &str = "## Two machines";

/// The figures compared, by results.json key.
const ROWS: [(&str, &str); 6] = [
    ("fanout.floor_us", "Floor, µs per send(), room of 100"),
    ("many.floor_us", "Floor, µs per send(), 50 rooms of 10"),
    ("fanout.server_us", "Server, µs per delivery, room of 100"),
    ("many.server_us", "Server, µs per delivery, 50 rooms of 10"),
    ("fanout.server_ratio", "Server ÷ floor, room of 100"),
    ("many.server_ratio", "Server ÷ floor, 50 rooms of 10"),
];

fn load(dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join("results.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn median(doc: &Value, key: &str) -> Option<f64> {
    doc["figures"][key]["median"].as_f64()
}

fn cell(doc: &Value, key: &str) -> String {
    let fig = &doc["figures"][key];
    match (
        fig["median"].as_f64(),
        fig["min"].as_f64(),
        fig["max"].as_f64(),
    ) {
        (Some(m), Some(lo), Some(hi)) => format!("{m:.2} ({lo:.2}–{hi:.2})"),
        _ => "n/a".into(),
    }
}

fn verdict(doc: &Value) -> String {
    let missed: Vec<&str> = doc["budgets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["enforced"].as_bool() == Some(true) && b["ok"].as_bool() != Some(true))
        .filter_map(|b| b["name"].as_str())
        .collect();
    if missed.is_empty() {
        "every budget met: exit 0".into()
    } else {
        format!("missed: {}", missed.join("; "))
    }
}

fn section(fast: &Value, slow: &Value) -> String {
    let tax = slow["syscall_tax"].as_u64().unwrap_or(0);
    let factor = |key| match (median(fast, key), median(slow, key)) {
        (Some(f), Some(s)) if f > 0.0 => format!("{:.2}x", s / f),
        _ => "n/a".into(),
    };
    let mut s = format!(
        "{HEADING}\n\nThe same code and bench on this machine (`make bench`, above) and on \
         a simulated second machine whose system calls cost more (`make bench-slow`, \
         bench/slow/RESULTS.md): there every system call of the server, of the floor's \
         sender and of the clients first runs {tax} seccomp BPF instructions in the \
         kernel, charged to the calling thread (examples/loadgen/slowsys.rs). It models \
         a costlier kernel entry (as mitigations or a slower kernel path give), not a \
         slower CPU: user-space code, memory and caches are unchanged, and both runs \
         share one CPU model. Medians of {} and {} runs (min–max); the last column is \
         slow ÷ fast.\n\n| Figure | This machine ({}) | Slower system calls ({}) | Slow ÷ fast |\n\
         |---|---:|---:|---:|\n",
        fast["runs"],
        slow["runs"],
        fast["date"].as_str().unwrap_or("?"),
        slow["date"].as_str().unwrap_or("?"),
    );
    for (key, label) in ROWS {
        s += &format!(
            "| {label} | {} | {} | {} |\n",
            cell(fast, key),
            cell(slow, key),
            factor(key)
        );
    }
    s += &format!(
        "| `make bench` | {} | {} | |\n",
        verdict(fast),
        verdict(slow)
    );
    s
}

/// Rewrites the comparison at the end of `main`/RESULTS.md if both runs' results
/// exist. `dir` is where this run wrote, `slow` whether it was the taxed run.
pub fn update(dir: &Path, slow: bool) -> Result<(), String> {
    let (main, slow_dir) = if slow {
        (
            dir.parent().unwrap_or(Path::new(".")).to_path_buf(),
            dir.to_path_buf(),
        )
    } else {
        (dir.to_path_buf(), dir.join("slow"))
    };
    let (Some(fast), Some(taxed)) = (load(&main), load(&slow_dir)) else {
        return Ok(());
    };
    let path = main.join("RESULTS.md");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let kept = text.split(HEADING).next().unwrap_or_default().trim_end();
    let out = format!("{kept}\n\n{}", section(&fast, &taxed));
    std::fs::write(&path, out).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn results(floor_us: f64, missed: Option<&str>) -> String {
        let fig = json!({"median": floor_us, "min": floor_us, "max": floor_us});
        let budgets: Vec<Value> = missed
            .map(|name| json!({"name": name, "enforced": true, "ok": false}))
            .into_iter()
            .collect();
        json!({"runs": 3, "date": "d", "syscall_tax": 16000,
               "figures": {"fanout.floor_us": fig}, "budgets": budgets})
        .to_string()
    }

    #[test]
    fn the_comparison_is_rewritten_in_place_and_names_what_the_slow_run_missed() {
        let main = std::env::temp_dir().join(format!("loadgen-machines-{}", std::process::id()));
        let slow = main.join("slow");
        std::fs::create_dir_all(&slow).unwrap();
        std::fs::write(main.join("results.json"), results(2.0, None)).unwrap();
        std::fs::write(slow.join("results.json"), results(6.0, Some("idle RSS"))).unwrap();
        std::fs::write(main.join("RESULTS.md"), "# Benchmark results\n").unwrap();

        update(&main, false).unwrap();
        update(&slow, true).unwrap();
        let text = std::fs::read_to_string(main.join("RESULTS.md")).unwrap();
        std::fs::remove_dir_all(&main).unwrap();

        assert!(text.starts_with("# Benchmark results\n"));
        assert_eq!(text.matches(HEADING).count(), 1, "{text}");
        assert!(
            text.contains("| 2.00 (2.00–2.00) | 6.00 (6.00–6.00) | 3.00x |"),
            "{text}"
        );
        assert!(
            text.contains("every budget met: exit 0 | missed: idle RSS |"),
            "{text}"
        );
        assert!(text.contains("16000 seccomp BPF instructions"), "{text}");
    }
}
