//! A message's HTML as plain text, read the way the page's sanitiser reads it: tags
//! gone, entities decoded, script-like elements dropped with their content, links as
//! `text <url>`, images as `[image: alt] <url>`, block ends as line breaks (`\n`).
//!
//! The output is not yet safe to print: decoded entities can name control characters.
//! [`super::render`] neutralises them afterwards.

/// Elements whose content is code or widgets rather than prose: gone entirely (as in
/// html/sanitize.js), plus the foreign svg and math.
const DROP: &[&str] = &[
    "script",
    "style",
    "template",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "noscript",
    "noembed",
    "noframes",
    "textarea",
    "title",
    "xmp",
    "plaintext",
    "select",
    "option",
    "head",
    "meta",
    "link",
    "base",
    "input",
    "button",
    "form",
    "video",
    "audio",
    "source",
    "track",
    "canvas",
    "map",
    "area",
    "portal",
    "dialog",
    "slot",
    "svg",
    "math",
];

/// Their content is raw text up to the matching end tag (no tags inside).
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];

/// Elements that never have content or an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "frame", "hr", "img", "input", "keygen", "link", "meta",
    "param", "source", "track", "wbr",
];

/// Elements that start and end a line.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "pre",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "nav",
    "main",
    "address",
    "figure",
    "figcaption",
    "details",
    "summary",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "center",
    "hr",
];

/// Deeper nesting is not worth following (the page stops formatting there too).
const MAX_DEPTH: usize = 64;

struct Tag {
    name: String,
    end: bool,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Plain text with `\n` for line breaks.
pub fn to_text(html: &str) -> String {
    let mut out = Out::default();
    // Open links: (where their text starts in `out`, the checked URL).
    let mut links: Vec<(usize, Option<String>)> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.text(&decode_entities(&rest[..lt]));
        rest = &rest[lt..];
        let Some((tag, after)) = read_markup(rest) else {
            // A `<` that starts no tag is just text.
            out.text("<");
            rest = &rest[1..];
            continue;
        };
        rest = after;
        let Some(tag) = tag else { continue }; // comment, doctype, bogus
        let name = tag.name.as_str();
        if !tag.end && DROP.contains(&name) {
            if !VOID.contains(&name) {
                rest = skip_element(name, rest);
            }
            continue;
        }
        match (name, tag.end) {
            ("br", _) => out.line_break(),
            ("img", false) => image(&tag, &mut out),
            ("a", false) if links.len() < MAX_DEPTH => {
                links.push((out.text.len(), tag.attr("href").and_then(link_url)));
            }
            ("a", true) => {
                if let Some((start, url)) = links.pop() {
                    close_link(&mut out, start, url);
                }
            }
            ("li", false) => {
                out.line_break();
                out.text("• ");
            }
            _ if BLOCK.contains(&name) => out.line_break(),
            _ => {} // inline formatting: its text stays, the element does not
        }
    }
    out.text(&decode_entities(rest));
    while let Some((start, url)) = links.pop() {
        close_link(&mut out, start, url);
    }
    out.finish()
}

#[derive(Default)]
struct Out {
    text: String,
    pending_break: bool,
}

impl Out {
    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.pending_break && !self.text.is_empty() {
            self.text.push('\n');
        }
        self.pending_break = false;
        self.text.push_str(s);
    }

    /// Breaks merge, so `</p><p>` is one break, not a blank line.
    fn line_break(&mut self) {
        self.pending_break = true;
    }

    fn finish(self) -> String {
        self.text
    }
}

fn close_link(out: &mut Out, start: usize, url: Option<String>) {
    let Some(url) = url else { return };
    let text = out.text.get(start..).unwrap_or("").trim();
    if text.is_empty() {
        out.text(&url);
    } else if text != url {
        out.text(&format!(" <{url}>"));
    }
}

fn image(tag: &Tag, out: &mut Out) {
    let Some(src) = tag.attr("src").and_then(image_url) else {
        return; // the page shows nothing for an image it will not load
    };
    let alt = tag.attr("alt").unwrap_or("").trim();
    let label = if alt.is_empty() {
        "[image]".to_owned()
    } else {
        format!("[image: {alt}]")
    };
    match src {
        ImageSrc::Remote(url) => out.text(&format!("{label} <{url}>")),
        ImageSrc::Inline => out.text(&label),
    }
}

/// What a URL parser would see: surrounding spaces and controls gone, tabs and line
/// breaks removed anywhere (the trick behind "java\tscript:").
fn clean_url(value: &str) -> String {
    value
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

fn scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once(':')?;
    let ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then(|| scheme.to_ascii_lowercase())
}

/// The page links only http, https and mailto URLs.
fn link_url(value: &str) -> Option<String> {
    let url = clean_url(value);
    matches!(scheme(&url)?.as_str(), "http" | "https" | "mailto").then_some(url)
}

enum ImageSrc {
    Remote(String),
    /// A `data:` image: shown by the page, but far too long to print.
    Inline,
}

fn image_url(value: &str) -> Option<ImageSrc> {
    let url = clean_url(value);
    match scheme(&url)?.as_str() {
        "http" | "https" => Some(ImageSrc::Remote(url)),
        "data" => Some(ImageSrc::Inline),
        _ => None,
    }
}

/// Reads the markup at the start of `s` (which begins with `<`). Returns None when the
/// `<` starts no markup; Some((None, rest)) for comments and declarations.
fn read_markup(s: &str) -> Option<(Option<Tag>, &str)> {
    let after_lt = &s[1..];
    if let Some(body) = after_lt.strip_prefix("!--") {
        let rest = body.find("-->").map_or("", |i| &body[i + 3..]);
        return Some((None, rest));
    }
    if after_lt.starts_with(['!', '?']) {
        let rest = after_lt.find('>').map_or("", |i| &after_lt[i + 1..]);
        return Some((None, rest));
    }
    let (end, name_start) = match after_lt.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, after_lt),
    };
    if !name_start.starts_with(|c: char| c.is_ascii_alphabetic()) {
        if end && !name_start.is_empty() {
            // `</` + non-letter is a bogus comment up to `>`.
            let rest = name_start.find('>').map_or("", |i| &name_start[i + 1..]);
            return Some((None, rest));
        }
        return None;
    }
    let name_len = name_start
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .unwrap_or(name_start.len());
    let name = name_start[..name_len].to_ascii_lowercase();
    let (attrs, rest) = read_attrs(&name_start[name_len..]);
    Some((Some(Tag { name, end, attrs }), rest))
}

/// Attributes up to the closing `>`; an unterminated tag swallows the rest, as in HTML.
fn read_attrs(mut s: &str) -> (Vec<(String, String)>, &str) {
    let mut attrs = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if s.is_empty() {
            return (attrs, "");
        }
        if let Some(rest) = s.strip_prefix('>') {
            return (attrs, rest);
        }
        let name_len = s
            .find(|c: char| c.is_ascii_whitespace() || matches!(c, '/' | '>' | '='))
            .unwrap_or(s.len())
            .max(1); // a stray `=` is part of a name
        let name = s[..name_len].to_ascii_lowercase();
        s = s[name_len..].trim_start_matches(|c: char| c.is_ascii_whitespace());
        let mut value = String::new();
        if let Some(after_eq) = s.strip_prefix('=') {
            let after_eq = after_eq.trim_start_matches(|c: char| c.is_ascii_whitespace());
            let (raw, rest) = match after_eq.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &after_eq[1..];
                    match body.find(q) {
                        Some(i) => (&body[..i], &body[i + 1..]),
                        None => (body, ""),
                    }
                }
                _ => {
                    let i = after_eq
                        .find(|c: char| c.is_ascii_whitespace() || c == '>')
                        .unwrap_or(after_eq.len());
                    (&after_eq[..i], &after_eq[i..])
                }
            };
            value = decode_entities(raw);
            s = rest;
        }
        if !attrs.iter().any(|(n, _)| *n == name) {
            attrs.push((name, value)); // the first of a repeated attribute wins
        }
    }
}

/// Skips an element's content up to its matching end tag (or the end of the message).
fn skip_element<'a>(name: &str, s: &'a str) -> &'a str {
    if name == "plaintext" {
        return "";
    }
    if RAW_TEXT.contains(&name) {
        return match find_end_tag(s, name) {
            Some((_, after)) => after,
            None => "",
        };
    }
    // Same-name elements may nest (`<svg><svg></svg></svg>`), so count them.
    let mut depth = 1usize;
    let mut rest = s;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        match read_markup(rest) {
            Some((Some(tag), after)) => {
                if tag.name == name {
                    if tag.end {
                        depth -= 1;
                        if depth == 0 {
                            return after;
                        }
                    } else {
                        depth += 1;
                    }
                }
                rest = after;
            }
            Some((None, after)) => rest = after,
            None => rest = &rest[1..],
        }
    }
    ""
}

/// Finds `</name` (any case) followed by a delimiter; returns (start, after the `>`).
fn find_end_tag<'a>(s: &'a str, name: &str) -> Option<(usize, &'a str)> {
    let lower = s.to_ascii_lowercase();
    let needle = format!("</{name}");
    let mut from = 0;
    while let Some(i) = lower[from..].find(&needle) {
        let at = from + i;
        let after_name = &s[at + needle.len()..];
        if after_name.is_empty()
            || after_name.starts_with(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        {
            let rest = after_name.find('>').map_or("", |j| &after_name[j + 1..]);
            return Some((at, rest));
        }
        from = at + needle.len();
    }
    None
}

/// Decodes `&name;`, `&#NN;` and `&#xHH;`. Unknown entities stay as written.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        match decode_one(rest) {
            Some((c, len)) => {
                out.push_str(&c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One entity at the start of `s` (which begins with `&`): (its text, bytes consumed).
fn decode_one(s: &str) -> Option<(String, usize)> {
    // Entity names are short; looking further would make many `&`s quadratic.
    let semi = s.bytes().skip(1).take(32).position(|b| b == b';')? + 1;
    let body = &s[1..semi];
    let text = if let Some(num) = body.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        // Numbers too big for u32 are still references, to U+FFFD.
        let value = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
        numeric_reference(value).to_string()
    } else {
        named_entity(body)?.to_owned()
    };
    Some((text, semi + 1))
}

/// The HTML rules: NUL, surrogates and out-of-range become U+FFFD; 0x80-0x9F name the
/// Windows-1252 characters (so `&#x9B;` is `›`, not CSI).
fn numeric_reference(n: u32) -> char {
    const CP1252: [u32; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    let n = match n {
        0 => 0xFFFD,
        0x80..=0x9F => CP1252[(n - 0x80) as usize],
        _ => n,
    };
    char::from_u32(n).unwrap_or('\u{FFFD}')
}

/// The entities people actually type; the full HTML table has over two thousand.
fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "apos" => "'",
        "nbsp" => "\u{A0}",
        "shy" => "\u{AD}",
        "copy" | "COPY" => "©",
        "reg" | "REG" => "®",
        "trade" => "™",
        "hellip" => "…",
        "mdash" => "—",
        "ndash" => "–",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "laquo" => "«",
        "raquo" => "»",
        "lsaquo" => "‹",
        "rsaquo" => "›",
        "bull" => "•",
        "middot" => "·",
        "deg" => "°",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "sect" => "§",
        "para" => "¶",
        "times" => "×",
        "divide" => "÷",
        "plusmn" => "±",
        "micro" => "µ",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "sup2" => "²",
        "sup3" => "³",
        "larr" => "←",
        "rarr" => "→",
        "uarr" => "↑",
        "darr" => "↓",
        "harr" => "↔",
        "hearts" => "♥",
        "check" => "✓",
        "star" => "☆",
        "iexcl" => "¡",
        "iquest" => "¿",
        "szlig" => "ß",
        "auml" => "ä",
        "ouml" => "ö",
        "uuml" => "ü",
        "Auml" => "Ä",
        "Ouml" => "Ö",
        "Uuml" => "Ü",
        "eacute" => "é",
        "egrave" => "è",
        "aacute" => "á",
        "agrave" => "à",
        "ccedil" => "ç",
        "ntilde" => "ñ",
        "zwj" => "\u{200D}",
        "zwnj" => "\u{200C}",
        "lrm" => "\u{200E}",
        "rlm" => "\u{200F}",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_tags_are_stripped_and_their_text_kept() {
        assert_eq!(to_text("<b>bold</b> and <i class=x>it</I>"), "bold and it");
        assert_eq!(to_text("a < b > c"), "a < b > c");
        assert_eq!(to_text("x<!-- hidden -->y<!doctype html>z"), "xyz");
    }

    #[test]
    fn entities_are_decoded_once_in_text_and_attributes() {
        assert_eq!(
            to_text("&lt;b&gt; &amp;amp; &#65;&#x42; &unknown; &"),
            "<b> &amp; AB &unknown; &"
        );
        assert_eq!(
            to_text("&#0;&#xD800;&#x110000;"),
            "\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        assert_eq!(
            to_text("<a href=\"https://x.test/?a=1&amp;b=2\">q</a>"),
            "q <https://x.test/?a=1&b=2>"
        );
    }

    #[test]
    fn c1_character_references_are_windows_1252_not_controls() {
        assert_eq!(to_text("&#x9B;&#128;"), "›€");
        // A reference to ESC does decode; neutralising it is render's job.
        assert_eq!(to_text("&#27;"), "\u{1b}");
    }

    #[test]
    fn links_show_their_text_and_checked_url() {
        assert_eq!(
            to_text("<a href='https://ex.test/'>site</a>"),
            "site <https://ex.test/>"
        );
        assert_eq!(to_text("<a href=https://ex.test/></a>"), "https://ex.test/");
        assert_eq!(
            to_text("<a href='https://ex.test/'>https://ex.test/</a>"),
            "https://ex.test/"
        );
        assert_eq!(
            to_text("<a href='java\tscript:alert(1)'>click</a>"),
            "click"
        );
        assert_eq!(
            to_text("<a href='mailto:a@b.test'>mail</a>"),
            "mail <mailto:a@b.test>"
        );
        assert_eq!(
            to_text("<a href='https://ex.test/'>unclosed"),
            "unclosed <https://ex.test/>"
        );
    }

    #[test]
    fn images_show_alt_text_and_remote_urls_only() {
        assert_eq!(
            to_text("<img src='https://ex.test/cat.png' alt='a cat'>"),
            "[image: a cat] <https://ex.test/cat.png>"
        );
        assert_eq!(to_text("<img src='data:image/png;base64,AAAA'>"), "[image]");
        assert_eq!(to_text("<img src='javascript:x' alt=y>"), "");
    }

    #[test]
    fn script_like_elements_vanish_with_their_content() {
        assert_eq!(to_text("a<script>alert('<b>')</script >b"), "ab");
        assert_eq!(
            to_text("a<STYLE>p{}</style>b<svg><svg>x</svg>y</svg>c"),
            "abc"
        );
        assert_eq!(
            to_text("a<input value=x>b<textarea><b>t</b></textarea>c"),
            "abc"
        );
        assert_eq!(to_text("a<script>never closed"), "a");
        assert_eq!(to_text("a<plaintext>b</plaintext>c"), "a");
    }

    #[test]
    fn blocks_and_breaks_become_single_newlines() {
        assert_eq!(to_text("<p>one</p><p>two</p>"), "one\ntwo");
        assert_eq!(to_text("a<br>b<br/>c"), "a\nb\nc");
        assert_eq!(
            to_text("<ul><li>x</li><li>y</li></ul>after"),
            "• x\n• y\nafter"
        );
        assert_eq!(to_text("line one\nline two"), "line one\nline two");
    }

    #[test]
    fn unterminated_markup_does_not_leak_tag_text() {
        assert_eq!(to_text("hi <b"), "hi ");
        assert_eq!(to_text("hi <a href='x"), "hi ");
        assert_eq!(to_text("hi </"), "hi </");
    }
}
