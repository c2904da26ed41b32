//! Server frames as bytes on the wire: a JSON text with its WebSocket header, ready
//! to be written to any member's socket. Server frames are unmasked, so one encoding
//! serves every member of a room: the broker encodes a relayed frame once and hands
//! every recipient the same [`Frame`] (a reference count, not a copy).
//!
//! This sits beside the protocol rather than in the transport so that the broker can
//! make frames without knowing anything about sockets.

//!
//! Submodules: [`codes`] the error and close codes, [`server`] the frames themselves
//! (encoded by the server, decoded by the clients).

use std::sync::Arc;

pub mod codes;
pub mod server;

pub use codes::{Code, close};
pub use server::{DecodeError, Left, LeftReason, Relayed, ServerFrame, Welcome};

/// One encoded WebSocket frame (header and payload), shared by every member it is
/// sent to.
pub type Frame = Arc<[u8]>;

const FIN: u8 = 0x80;
const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;

fn encode(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 10);
    out.push(FIN | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// A final text frame carrying one JSON object.
pub(crate) fn text(json: &str) -> Frame {
    encode(OP_TEXT, json.as_bytes()).into()
}

/// A close frame; the reason is cut to fit the 125-byte control frame limit.
pub(crate) fn close(code: u16, reason: &str) -> Frame {
    let mut payload = code.to_be_bytes().to_vec();
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    encode(OP_CLOSE, &payload).into()
}

pub(crate) fn ping() -> Frame {
    encode(OP_PING, b"").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_shortest_header() {
        assert_eq!(&text("ab")[..2], &[0x81, 2]);
        assert_eq!(&text(&"x".repeat(126))[..4], &[0x81, 126, 0, 126]);
        let big = text(&"x".repeat(70_000));
        assert_eq!(&big[..2], &[0x81, 127]);
        assert_eq!(
            u64::from_be_bytes(big[2..10].try_into().expect("8 bytes")),
            70_000
        );
    }

    #[test]
    fn close_frames_carry_the_code_and_fit_a_control_frame() {
        let f = close(4001, "kicked");
        assert_eq!(&f[..4], &[0x88, 8, 0x0f, 0xa1]);
        assert!(close(1000, &"é".repeat(100)).len() <= 127);
    }
}
