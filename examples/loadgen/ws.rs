//! WebSocket framing as a client needs it, and nothing more: the upgrade request and
//! the check of its answer, masked client frames, and the header of the server's
//! (unmasked, unfragmented) frames. Payloads are never copied to be parsed.

pub const OP_TEXT: u8 = 0x1;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The HTTP request that opens a WebSocket on `/ws`, without an Origin (a
/// non-browser client, which the server accepts).
pub fn upgrade_request(host: &str, key: &str) -> Vec<u8> {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Looks for a whole upgrade answer at the start of `buf`. `Ok(None)`: not all there
/// yet; `Ok(Some(n))`: a valid `101` of `n` bytes whose accept key matches.
pub fn check_upgrade(buf: &[u8], expected_accept: &str) -> Result<Option<usize>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 8192 {
            return Err("upgrade answer longer than 8 KiB".into());
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("upgrade refused: {status:?}"));
    }
    let accept = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-accept")
            .then(|| value.trim().to_owned())
    });
    match accept {
        Some(a) if a == expected_accept => Ok(Some(end + 4)),
        other => Err(format!("wrong Sec-WebSocket-Accept: {other:?}")),
    }
}

/// Appends one final, masked client frame to `out`.
pub fn push_masked(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    let len = payload.len();
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[start..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// A server frame found at the start of a buffer.
pub struct Header {
    pub opcode: u8,
    /// Where the payload starts.
    pub start: usize,
    /// Where the frame ends (and the next one starts).
    pub end: usize,
}

/// Parses the frame header at the start of `buf`: `Ok(None)` when the frame is not
/// complete yet. Masked or fragmented server frames are protocol errors.
pub fn parse_header(buf: &[u8]) -> Result<Option<Header>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x80 == 0 {
        return Err("fragmented server frame (the server never fragments)".into());
    }
    if b1 & 0x80 != 0 {
        return Err("masked server frame".into());
    }
    let (len, start): (usize, usize) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let len = usize::try_from(u64::from_be_bytes(b))
                .map_err(|_| "server frame length overflows".to_string())?;
            (len, 10)
        }
        126 | 127 => return Ok(None),
        n => (usize::from(n), 2),
    };
    let end = start
        .checked_add(len)
        .ok_or_else(|| "server frame length overflows".to_string())?;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Header {
        opcode: b0 & 0x0f,
        start,
        end,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_frames_unmask_to_the_payload() {
        let mut out = Vec::new();
        push_masked(&mut out, OP_TEXT, &[b'x'; 300], [1, 2, 3, 4]);
        assert_eq!(&out[..4], &[0x81, 0x80 | 126, 1, 44]);
        let unmasked: Vec<u8> = out[8..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ [1, 2, 3, 4][i & 3])
            .collect();
        assert_eq!(unmasked, vec![b'x'; 300]);
    }

    #[test]
    fn headers_wait_for_whole_frames() {
        let frame = [0x81, 3, b'a', b'b', b'c', 0x89];
        assert!(parse_header(&frame[..4]).expect("valid").is_none());
        let h = parse_header(&frame).expect("valid").expect("complete");
        assert_eq!((h.opcode, h.start, h.end), (OP_TEXT, 2, 5));
        assert!(parse_header(&[0x01, 0]).is_err());
    }
}
