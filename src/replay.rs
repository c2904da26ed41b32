//! Replay protection of v2 envelopes (PROTOCOL.md section 3, extension), client side:
//! the [`Stamper`] that numbers what one connection seals, and the [`ReplayGuard`]
//! with which a receiver refuses an envelope it has already accepted (a server, or
//! anyone who learnt `k_auth`, re-sending a captured body) or one sent at a time its
//! clock cannot vouch for (an old capture, whose counter it may have forgotten).
//! html/replay.js is the page's copy of the same rules.

use crate::crypto::{self, Stamp};

/// How far a sender's clock may be from the receiver's (either way): LAN clocks drift.
pub const WINDOW_MS: u64 = 10 * 60 * 1000;
/// Sender connections remembered per room; past it the one heard from least recently
/// is forgotten (see [`ReplayGuard::check`]).
pub const MAX_SENDERS: usize = 64;

/// The stamps of one connection: a random session id, counting from 1.
pub struct Stamper {
    sid: [u8; 8],
    next: u32,
}

impl Default for Stamper {
    fn default() -> Self {
        Stamper {
            sid: crypto::random_bytes(),
            next: 1,
        }
    }
}

impl Stamper {
    /// The stamp of the next envelope, with the sender's clock now.
    pub fn stamp(&mut self) -> Stamp {
        let stamp = Stamp {
            sid: self.sid,
            counter: self.next,
            sent_ms: crate::protocol::now_ms(),
        };
        // 2^32 envelopes are years at the server's rate limit; receivers refuse a
        // counter that stops growing, which is right should it ever happen.
        self.next = self.next.saturating_add(1);
        stamp
    }
}

/// Why an authentic envelope was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its counter is not above the highest accepted from its connection.
    Repeated,
    /// Its sender's time is too far from ours, or older than connections we forgot.
    OutOfWindow,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Repeated => "repeated message (a replay)",
            Refusal::OutOfWindow => {
                "sent at a time outside the accepted window (a replay, or a wrong clock)"
            }
        })
    }
}

/// One sender connection heard from: its highest counter and latest time.
#[derive(Clone)]
struct Sender {
    from: String,
    sid: [u8; 8],
    counter: u32,
    sent_ms: u64,
}

/// What one receiver remembers of a room's senders. Kept across the receiver's
/// reconnections to the same room, forgotten when it leaves.
#[derive(Clone, Default)]
pub struct ReplayGuard {
    senders: Vec<Sender>,
    /// The latest time of any sender forgotten for room: a connection we do not know
    /// must have sent after it, or it could be a forgotten one replayed.
    floor_ms: u64,
}

impl ReplayGuard {
    /// Accepts the stamp of an authentic envelope from `from` (and remembers it), or
    /// says why not. `now_ms` is the receiver's clock.
    pub fn check(&mut self, from: &str, stamp: &Stamp, now_ms: u64) -> Result<(), Refusal> {
        if stamp.sent_ms.abs_diff(now_ms) > WINDOW_MS {
            return Err(Refusal::OutOfWindow);
        }
        // A sender last heard from before the window can only be replayed out of it.
        self.senders
            .retain(|s| s.sent_ms.saturating_add(WINDOW_MS) >= now_ms);
        let known = self
            .senders
            .iter_mut()
            .find(|s| s.sid == stamp.sid && s.from == from);
        if let Some(sender) = known {
            if stamp.counter <= sender.counter {
                return Err(Refusal::Repeated);
            }
            sender.counter = stamp.counter;
            sender.sent_ms = sender.sent_ms.max(stamp.sent_ms);
            return Ok(());
        }
        if stamp.sent_ms <= self.floor_ms {
            return Err(Refusal::OutOfWindow);
        }
        if self.senders.len() >= MAX_SENDERS {
            self.forget_stalest();
        }
        self.senders.push(Sender {
            from: from.to_owned(),
            sid: stamp.sid,
            counter: stamp.counter,
            sent_ms: stamp.sent_ms,
        });
        Ok(())
    }

    fn forget_stalest(&mut self) {
        let stalest = self
            .senders
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.sent_ms)
            .map(|(i, _)| i);
        if let Some(i) = stalest {
            let gone = self.senders.swap_remove(i);
            self.floor_ms = self.floor_ms.max(gone.sent_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn stamp(sid: u8, counter: u32, sent_ms: u64) -> Stamp {
        Stamp {
            sid: [sid; 8],
            counter,
            sent_ms,
        }
    }

    #[test]
    fn a_counter_not_above_the_highest_seen_is_a_repeat() {
        let mut g = ReplayGuard::default();
        assert_eq!(g.check("alice", &stamp(1, 1, NOW), NOW), Ok(()));
        assert_eq!(g.check("alice", &stamp(1, 3, NOW), NOW), Ok(()));
        assert_eq!(
            g.check("alice", &stamp(1, 3, NOW), NOW),
            Err(Refusal::Repeated)
        );
        assert_eq!(
            g.check("alice", &stamp(1, 2, NOW), NOW),
            Err(Refusal::Repeated)
        );
        // Another connection, or another sender, counts on its own.
        assert_eq!(g.check("alice", &stamp(2, 1, NOW), NOW), Ok(()));
        assert_eq!(g.check("bob", &stamp(1, 1, NOW), NOW), Ok(()));
    }

    #[test]
    fn times_beyond_the_window_either_way_are_refused() {
        let mut g = ReplayGuard::default();
        let nineteen_ninety_nine = 915_148_800_000;
        for sent in [
            nineteen_ninety_nine,
            NOW - WINDOW_MS - 1,
            NOW + WINDOW_MS + 1,
        ] {
            assert_eq!(
                g.check("alice", &stamp(1, 1, sent), NOW),
                Err(Refusal::OutOfWindow)
            );
        }
        assert_eq!(g.check("alice", &stamp(1, 1, NOW - WINDOW_MS), NOW), Ok(()));
        assert_eq!(g.check("bob", &stamp(1, 1, NOW + WINDOW_MS), NOW), Ok(()));
    }

    #[test]
    fn memory_stays_bounded_and_a_forgotten_sender_cannot_be_replayed() {
        let mut g = ReplayGuard::default();
        assert_eq!(g.check("alice", &stamp(0, 1, NOW - 1000), NOW), Ok(()));
        for i in 1..=MAX_SENDERS as u8 {
            assert_eq!(g.check("mallory", &stamp(i, 1, NOW), NOW), Ok(()));
        }
        assert_eq!(g.senders.len(), MAX_SENDERS);
        assert_eq!(
            g.check("alice", &stamp(0, 1, NOW - 1000), NOW),
            Err(Refusal::OutOfWindow)
        );
        // A connection that sends after the forgotten one is still welcome.
        assert_eq!(g.check("carol", &stamp(99, 1, NOW), NOW), Ok(()));
    }

    #[test]
    fn stampers_count_from_one_under_one_random_sid() {
        let mut a = Stamper::default();
        let b = Stamper::default().stamp();
        let (first, second) = (a.stamp(), a.stamp());
        assert_eq!((first.counter, second.counter), (1, 2));
        assert_eq!(first.sid, second.sid);
        assert_ne!(first.sid, b.sid);
        assert!(first.sent_ms.abs_diff(crate::protocol::now_ms()) < 60_000);
    }
}
