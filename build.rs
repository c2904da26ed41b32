//! Embeds every file of `html/` in the binary, gzip-compressed: generates a table of
//! (URL path, content type, gzip bytes) so the server never reads a file at run time and
//! the page costs about a third of the bytes, in the binary and on the wire.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use flate2::{Compression, GzBuilder};

/// `bytes` as a gzip member with a fixed header (no file name, mtime 0, OS "unknown"):
/// the same html/ always gives the same binary, whoever builds it and when.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

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
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets this");
    let out = Path::new(&out_dir).join("html");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/html");
    let mut table = String::from("&[\n");
    for name in &names {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let original = std::fs::read(&path).expect("read html/ file");
        let gz = out.join(format!("{name}.gz"));
        std::fs::write(&gz, gzip(&original)).expect("write gzip file");
        let _ = writeln!(
            table,
            "    (\"/{name}\", \"{}\", include_bytes!({:?}) as &[u8]),",
            content_type(name),
            gz.display().to_string()
        );
    }
    table.push(']');
    std::fs::write(Path::new(&out_dir).join("assets.rs"), table).expect("write assets table");
}
