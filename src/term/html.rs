//! A message's text for the terminal, by the page's rules (html/sanitize.js): what someone
//! typed shows as typed, so code (`Vec<String>`, `a<b && c>d`), addresses
//! (`<bob@example.com>`) and `<3` survive. Only the page's HTML subset is read, and only
//! where the page renders it: tags in [`ALLOWED`] that are well formed and, unless void,
//! closed later in the message; links need an http(s) address, images a usable source.
//! Those tags go and their text stays: blocks and `<br>` end lines (`\n`), list items
//! start with `• `, links read `text <url>` (the URL alone when it is the text), images
//! `[image: alt]`, followed by their URL when it is http(s). Any other `<` is text.
//!
//! Character references (`&amp;`) are decoded only in messages that use at least one such
//! tag, as on the page. Markdown stays as typed: `**bold**` and `` `code` `` read well in
//! a terminal as they are, and bare URLs are plain text already. A `` `code span` `` or a
//! ``` fenced block ``` still keeps the tags and references inside it literal, as the page
//! does.
//!
//! The output is not yet safe to print: decoded references can name control characters.
//! [`super::render`] neutralises them afterwards.

use std::collections::HashMap;

/// The page's subset (sanitize.js `ALLOWED`).
const ALLOWED: &[&str] = &[
    "b",
    "i",
    "u",
    "s",
    "em",
    "strong",
    "code",
    "pre",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "p",
    "br",
    "ul",
    "ol",
    "li",
    "a",
    "img",
];

/// Of those, the ones with no content and no closing tag.
const VOID: &[&str] = &["br", "img"];

/// And the ones that are lines of their own: paragraphs, headings, quotes and lists.
fn is_block(name: &str) -> bool {
    matches!(name, "p" | "pre" | "blockquote" | "ul" | "ol" | "li")
        || matches!(name.as_bytes(), [b'h', b'1'..=b'6'])
}

/// The page builds no deeper elements; their text goes on in the enclosing one.
const MAX_DEPTH: usize = 24;

/// The `data:` images the page shows.
const IMAGE_TYPES: &[&str] = &["image/png", "image/gif", "image/jpeg", "image/webp"];

/// Plain text with `\n` for line breaks.
pub fn to_text(message: &str) -> String {
    let lines: Vec<&str> = message.split('\n').collect();
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < lines.len() {
        let Some(n) = fence_open(lines[i]) else {
            i += 1;
            continue;
        };
        let closing = (i + 1..lines.len()).find(|&j| fence_close(lines[j]).is_some_and(|m| m >= n));
        let Some(end) = closing else {
            break; // no closing fence: nor for any later opening one
        };
        if i > start {
            parts.push(inline(&lines[start..i].join("\n")));
        }
        parts.push(lines[i..=end].join("\n")); // as typed, fences and all
        start = end + 1;
        i = start;
    }
    if start < lines.len() {
        parts.push(inline(&lines[start..].join("\n")));
    }
    parts.join("\n")
}

/// A line opening a fenced code block: its number of backticks.
fn fence_open(line: &str) -> Option<usize> {
    let (n, rest) = fence(line)?;
    (!rest.contains('`')).then_some(n)
}

/// A line closing one: its number of backticks.
fn fence_close(line: &str) -> Option<usize> {
    let (n, rest) = fence(line)?;
    rest.chars().all(is_space).then_some(n)
}

/// At most 3 spaces, then 3 or more backticks: (how many, the rest of the line).
fn fence(line: &str) -> Option<(usize, &str)> {
    let body = line.trim_start_matches(' ');
    let rest = body.trim_start_matches('`');
    let n = body.len() - rest.len();
    (line.len() - body.len() <= 3 && n >= 3).then_some((n, rest))
}

/// JavaScript's `\s`, which the page's patterns use.
fn is_space(c: char) -> bool {
    c == '\u{FEFF}' || (c.is_whitespace() && c != '\u{85}')
}

/// A tag as the page's tokeniser reads it.
struct Tag<'a> {
    /// As typed, for when it turns out to be text after all.
    raw: &'a str,
    name: String,
    end: bool,
    attrs: Vec<(String, String)>,
}

impl Tag<'_> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

enum Token<'a> {
    Text(&'a str),
    /// A `code span`, backticks and all: no tags, no references inside.
    Code(&'a str),
    Tag(Tag<'a>),
}

/// Text, code spans and candidate tags, left to right. A code span wins over a tag inside
/// it; a run of backticks with no equal run later is text.
fn tokenize(src: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut text = 0; // where the text not yet in `tokens` starts
    let mut no_closer: HashMap<usize, usize> = HashMap::new(); // run length -> from where none
    let mut i = 0;
    while let Some(&b) = src.as_bytes().get(i) {
        let found = match b {
            b'`' => {
                let n = backticks(&src[i..]);
                let hopeless = no_closer.get(&n).is_some_and(|&from| from <= i + n);
                let end = if hopeless {
                    None
                } else {
                    backtick_run(src, i + n, n)
                };
                let Some(end) = end else {
                    no_closer.entry(n).or_insert(i + n);
                    i += n;
                    continue;
                };
                Some(Token::Code(&src[i..end + n]))
            }
            b'<' => read_tag(&src[i..]).map(Token::Tag),
            _ => None,
        };
        let Some(token) = found else {
            i += 1;
            continue;
        };
        if text < i {
            tokens.push(Token::Text(&src[text..i]));
        }
        i += match &token {
            Token::Text(s) | Token::Code(s) => s.len(),
            Token::Tag(tag) => tag.raw.len(),
        };
        text = i;
        tokens.push(token);
    }
    if text < src.len() {
        tokens.push(Token::Text(&src[text..]));
    }
    tokens
}

fn backticks(s: &str) -> usize {
    s.bytes().take_while(|&b| b == b'`').count()
}

/// Start of the next run of exactly `n` backticks at or after `from`.
fn backtick_run(src: &str, mut from: usize, n: usize) -> Option<usize> {
    loop {
        from += src[from..].find('`')?;
        let len = backticks(&src[from..]);
        if len == n {
            return Some(from);
        }
        from += len;
    }
}

/// The tag of the subset at the start of `s` (a `<`), if it is one: a name, attributes
/// of the usual forms, then `>` or `/>`; a closing tag bare. Anything that does not fit,
/// as in `a<b && c>d`, is no tag at all.
fn read_tag(s: &str) -> Option<Tag<'_>> {
    let after = s.strip_prefix('<')?;
    let (end, after) = match after.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    let name_len = after
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(after.len());
    let name = after[..name_len].to_ascii_lowercase();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) || !ALLOWED.contains(&name.as_str()) {
        return None;
    }
    let mut rest = &after[name_len..];
    let mut attrs: Vec<(String, String)> = Vec::new();
    loop {
        let trimmed = rest.trim_start_matches(is_space);
        let spaced = trimmed.len() < rest.len();
        rest = trimmed;
        let closed = match rest.strip_prefix('>') {
            Some(after) => Some((false, after)),
            None => rest.strip_prefix("/>").map(|after| (true, after)),
        };
        if let Some((slash, after)) = closed {
            if end && (slash || !attrs.is_empty()) {
                return None;
            }
            let raw = &s[..s.len() - after.len()];
            return Some(Tag {
                raw,
                name,
                end,
                attrs,
            });
        }
        if !spaced {
            return None;
        }
        let (attr, value, after) = read_attr(rest)?;
        if !attrs.iter().any(|(n, _)| *n == attr) {
            attrs.push((attr, value)); // the first of a repeated attribute wins
        }
        rest = after;
    }
}

/// `name`, `name=value`, `name="value"` or `name='value'` at the start of `s`:
/// (the name in lower case, the value with references decoded, the rest).
fn read_attr(s: &str) -> Option<(String, String, &str)> {
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || matches!(c, '_' | ':')) {
        return None;
    }
    let len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')))
        .unwrap_or(s.len());
    let (name, rest) = (s[..len].to_ascii_lowercase(), &s[len..]);
    let Some(value) = rest.trim_start_matches(is_space).strip_prefix('=') else {
        return Some((name, String::new(), rest));
    };
    let value = value.trim_start_matches(is_space);
    let (raw, rest) = match value.chars().next()? {
        quote @ ('"' | '\'') => {
            let body = &value[1..];
            let close = body.find(quote)?;
            (&body[..close], &body[close + 1..])
        }
        _ => {
            let len = value
                .find(|c: char| is_space(c) || matches!(c, '"' | '\'' | '<' | '>' | '`'))
                .unwrap_or(value.len());
            (len > 0).then(|| value.split_at(len))?
        }
    };
    Some((name, decode_entities(raw), rest))
}

/// Keeps the tags the page renders and turns the others back into text: an opening tag
/// needs a closing one later (and the other way round), a link an http(s) address, an
/// image a usable source. Returns whether any tag was kept.
fn settle(tokens: &mut [Token<'_>]) -> bool {
    let mut keep = vec![false; tokens.len()];
    let mut open: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Tag(tag) = token else { continue };
        let usable = match tag.name.as_str() {
            "a" => link_url(tag).is_some(),
            "img" => image(tag).is_some(),
            _ => true,
        };
        if tag.end {
            if let Some(opener) = open.get_mut(tag.name.as_str()).and_then(Vec::pop) {
                keep[opener] = true;
                keep[i] = true;
            }
        } else if usable && VOID.contains(&tag.name.as_str()) {
            keep[i] = true;
        } else if usable {
            open.entry(tag.name.as_str()).or_default().push(i);
        }
    }
    for (token, kept) in tokens.iter_mut().zip(&keep) {
        if let (Token::Tag(tag), false) = (&*token, kept) {
            let raw = tag.raw;
            *token = Token::Text(raw);
        }
    }
    keep.contains(&true)
}

/// An element open at some point of the message.
struct Frame {
    name: String,
    /// One the page builds (not too deep, not a link in a link): its lines and link count.
    live: bool,
    /// A link's address and where its text starts in the output.
    link: Option<(String, Mark)>,
}

/// Text outside fenced code blocks.
fn inline(src: &str) -> String {
    let mut tokens = tokenize(src);
    let html = settle(&mut tokens);
    let mut out = Out::default();
    let mut open: Vec<Frame> = Vec::new();
    for token in tokens {
        let tag = match token {
            Token::Text(s) if html => {
                out.text(&decode_entities(s));
                continue;
            }
            Token::Text(s) | Token::Code(s) => {
                out.text(s);
                continue;
            }
            Token::Tag(tag) => tag,
        };
        if tag.end {
            // Closing an element closes whatever was left open inside it.
            if let Some(k) = open.iter().rposition(|f| f.name == tag.name) {
                close(&mut out, open.split_off(k));
            }
            continue;
        }
        match tag.name.as_str() {
            "br" => out.line_break(),
            "img" => out.text(&image(&tag).unwrap_or_default()),
            name => {
                let in_link = open.iter().any(|f| f.link.is_some());
                let live =
                    open.iter().filter(|f| f.live).count() < MAX_DEPTH && !(name == "a" && in_link);
                let link = match (live, name) {
                    (true, "a") => link_url(&tag).map(|url| (url, out.mark())),
                    _ => None,
                };
                if live && is_block(name) {
                    out.line_break();
                }
                if live && name == "li" {
                    out.text("• ");
                }
                open.push(Frame {
                    name: tag.name,
                    live,
                    link,
                });
            }
        }
    }
    close(&mut out, open);
    out.text
}

/// Ends the elements in `frames`, innermost first.
fn close(out: &mut Out, frames: Vec<Frame>) {
    for frame in frames.into_iter().rev() {
        if frame.live && is_block(&frame.name) {
            out.line_break();
        }
        let Some((url, start)) = frame.link else {
            continue;
        };
        let text = out.text.get(start.len..).unwrap_or("").trim();
        if text.is_empty() {
            // A link with nothing to show (blanks, a `<br>`) shows its address instead.
            out.rewind(start);
            out.text(&url);
        } else if text != url {
            out.text(&format!(" <{url}>"));
        }
    }
}

/// A point in [`Out`] to go back to.
#[derive(Clone, Copy)]
struct Mark {
    len: usize,
    pending_break: bool,
}

#[derive(Default)]
struct Out {
    text: String,
    pending_break: bool,
}

impl Out {
    /// Blanks just after a line break show as nothing, as on the page (the spaces
    /// between `</li>` and `<li>`).
    fn text(&mut self, s: &str) {
        if s.is_empty() || (self.pending_break && s.trim().is_empty()) {
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

    fn mark(&self) -> Mark {
        Mark {
            len: self.text.len(),
            pending_break: self.pending_break,
        }
    }

    fn rewind(&mut self, mark: Mark) {
        self.text.truncate(mark.len);
        self.pending_break = mark.pending_break;
    }
}

/// A link's address when the page makes it a link.
fn link_url(tag: &Tag) -> Option<String> {
    let href = clean_url(tag.attr("href")?);
    web_url(&href).then_some(href)
}

/// An image as `[image: alt]`, followed by its address when that is http(s) (a `data:`
/// one is far too long to print); None when the page does not show it.
fn image(tag: &Tag) -> Option<String> {
    let src = clean_url(tag.attr("src")?);
    let alt = tag.attr("alt").unwrap_or("").trim();
    let label = if alt.is_empty() {
        "[image]".to_owned()
    } else {
        format!("[image: {alt}]")
    };
    if web_url(&src) {
        Some(format!("{label} <{src}>"))
    } else {
        data_image(&src).then_some(label)
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

/// An absolute http(s) URL with a host, close to how the page's URL parser takes it:
/// the scheme in any case, any slashes or backslashes before the host, userinfo and
/// port aside.
fn web_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    let authority = rest.trim_start_matches(['/', '\\']);
    let authority = &authority[..authority
        .find(['/', '\\', '?', '#'])
        .unwrap_or(authority.len())];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(_) => host,
        None => host.split(':').next().unwrap_or(""),
    };
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        && !host.is_empty()
        && !host.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '^' | '|' | '"'))
}

/// A `data:` URL of an image type the page shows.
fn data_image(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    let Some((meta, _)) = rest.split_once(',') else {
        return false;
    };
    let kind = meta
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    scheme.eq_ignore_ascii_case("data") && IMAGE_TYPES.contains(&kind.as_str())
}

/// Decodes `&name;`, `&#NN;` and `&#xHH;`. Unknown entities stay as written.
fn decode_entities(s: &str) -> String {
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

    /// Each as typed, after the terminal's rendering.
    fn unchanged(messages: &[&str]) {
        for m in messages {
            assert_eq!(to_text(m), *m);
        }
    }

    #[test]
    fn allowed_tags_that_close_show_their_text_only() {
        assert_eq!(to_text("<b>x</b>"), "x");
        assert_eq!(
            to_text("<B>bold</b> and <em class=x>it</EM> <s><u>gone</u></s>"),
            "bold and it gone"
        );
        assert_eq!(to_text("<b>a<i>b</b>c</i>"), "abc"); // as the page: </b> ends both
    }

    #[test]
    fn tags_that_do_not_close_or_fit_stay_as_typed() {
        unchanged(&[
            "<b>x",
            "x</b>",
            "</b>x<b>",
            "<b>x</b x>",
            "<b x=>x</b>",
            "<b/x>y</b>",
            "hi <b",
            "hi <a href='x",
            "<a href=\"https://ex.test/\">never closed",
        ]);
    }

    #[test]
    fn tags_outside_the_subset_stay_as_typed() {
        unchanged(&[
            "<script>alert(1)</script>",
            "a<STYLE>p{}</style>b<svg><svg>x</svg>y</svg>c",
            "<div class=\"x\">hello</div>",
            "<input value=x><textarea><b>t</textarea>",
            "x<!-- c -->y<!doctype html>z",
            "Vec<String>",
            "a<b && c>d",
            "<bob@example.com>",
        ]);
        // Next to a tag that renders, the others still show.
        assert_eq!(
            to_text("<b>hi</b> <script>alert('<b>')</script>"),
            "hi <script>alert('<b>')</script>"
        );
    }

    #[test]
    fn references_are_decoded_only_in_messages_using_the_subset() {
        unchanged(&["&amp;", "Tom &amp; Jerry &lt;b&gt; &#65;", "AT&T"]);
        assert_eq!(to_text("<b>&amp;</b>"), "&");
        assert_eq!(
            to_text("<b>x</b> &lt;b&gt; &amp;amp; &#65;&#x42; &unknown; &"),
            "x <b> &amp; AB &unknown; &"
        );
        assert_eq!(
            to_text("<a href=\"https://x.test/?a=1&amp;b=2\">q</a>"),
            "q <https://x.test/?a=1&b=2>"
        );
        // Decoded text is never read as tags again.
        assert_eq!(to_text("<i>&lt;b&gt;x&lt;/b&gt;</i>"), "<b>x</b>");
    }

    #[test]
    fn numeric_references_keep_the_html_rules() {
        assert_eq!(
            to_text("<b>&#0;&#xD800;&#x110000;</b>"),
            "\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        assert_eq!(to_text("<b>&#x9B;&#128;</b>"), "›€");
        // A reference to ESC does decode; neutralising it is render's job.
        assert_eq!(to_text("<b>&#27;</b>"), "\u{1b}");
    }

    #[test]
    fn markdown_stays_as_typed_and_code_keeps_tags_literal() {
        unchanged(&[
            "**bold**, *italic* and `code`",
            "`<b>x</b>` and ``a ` b``",
            "```\nfn f() -> <b>x</b> &amp;\n```",
            "it's a single ` backtick <b>x",
        ]);
        assert_eq!(to_text("<b>x</b> `&amp; <i>y</i>`"), "x `&amp; <i>y</i>`");
        // Each side of a fenced block is read on its own, as on the page.
        assert_eq!(
            to_text("<b>a</b> &amp;\n```\n<b>b</b>\n```\n&amp; <i>c"),
            "a &\n```\n<b>b</b>\n```\n&amp; <i>c"
        );
    }

    #[test]
    fn links_show_their_text_and_address() {
        assert_eq!(
            to_text("<a href='https://ex.test/'>site</a>"),
            "site <https://ex.test/>"
        );
        assert_eq!(to_text("<a href=https://ex.test/></a>"), "https://ex.test/");
        assert_eq!(
            to_text("x<p>y</p><a href=https://ex.test/> <br></a>"),
            "x\ny\nhttps://ex.test/"
        );
        assert_eq!(
            to_text("<a href='https://ex.test/'>https://ex.test/</a>"),
            "https://ex.test/"
        );
        assert_eq!(
            to_text("<a href='https://a.test/'>x <a href='https://b.test/'>y</a></a>"),
            "x y <https://a.test/>"
        );
        unchanged(&[
            "<a href='java\tscript:alert(1)'>click</a>",
            "<a href='mailto:a@b.test'>mail</a>",
            "<a href='https:///'>no host</a>",
            "<a>no address</a>",
        ]);
    }

    #[test]
    fn images_show_alt_text_and_web_addresses_only() {
        assert_eq!(
            to_text("<img src='https://ex.test/cat.png' alt='a cat'>"),
            "[image: a cat] <https://ex.test/cat.png>"
        );
        assert_eq!(
            to_text("<img src='data:image/png;base64,AAAA' alt=dot />"),
            "[image: dot]"
        );
        assert_eq!(to_text("<img src='data:image/png;base64,AAAA'>"), "[image]");
        unchanged(&[
            "<img src='javascript:x' alt=y>",
            "<img src='data:text/html,<b>x</b>' alt=y>",
            "<img alt=nothing>",
        ]);
    }

    #[test]
    fn blocks_and_breaks_become_single_newlines() {
        assert_eq!(to_text("<p>one</p><p>two</p>"), "one\ntwo");
        assert_eq!(to_text("a<br>b<br/>c"), "a\nb\nc");
        assert_eq!(
            to_text("<ul>\n  <li>x</li>\n  <li>y</li>\n</ul>after"),
            "• x\n• y\nafter"
        );
        assert_eq!(to_text("line one\nline two"), "line one\nline two");
    }

    #[test]
    fn elements_beyond_the_pages_depth_add_no_lines() {
        let deep = format!("{}x{}", "<p>".repeat(30), "</p>".repeat(30));
        assert_eq!(to_text(&deep), "x");
        let depth = "<b>".repeat(MAX_DEPTH);
        let link = format!(
            "{depth}<a href='https://ex.test/'>x</a>{}",
            "</b>".repeat(MAX_DEPTH)
        );
        assert_eq!(to_text(&link), "x", "the page builds no link there");
    }

    #[test]
    fn long_runs_of_markup_characters_take_linear_time() {
        for unit in [
            "`",
            "``` ",
            "<b ",
            "<b x=\"",
            "<b x=a ",
            "<",
            "&",
            "<a href=x>",
        ] {
            let s = unit.repeat(20_000);
            let start = std::time::Instant::now();
            assert!(!to_text(&s).is_empty());
            assert!(
                start.elapsed() < std::time::Duration::from_secs(2),
                "{unit:?}"
            );
        }
    }
}
