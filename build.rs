//! Embeds every file of `html/` in the binary: generates a table of
//! (URL path, content type, bytes) so the server never reads a file at run time.

use std::fmt::Write as _;
use std::path::Path;

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn main() {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this")).join("html");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("html/ exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut table = String::from("&[\n");
    for name in &names {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            table,
            "    (\"/{name}\", \"{}\", include_bytes!({:?}) as &[u8]),",
            content_type(name),
            path.display().to_string()
        );
    }
    table.push(']');
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets this")).join("assets.rs");
    std::fs::write(out, table).expect("write assets table");
}
