//! Spaces out what the client sends so a script piping a file stays under the server's
//! default rate limit (10 messages a second, bursts of 20) instead of losing lines.

use std::time::Instant;

/// Messages per second, comfortably under the server's default of 10.
const RATE: f64 = 8.0;
/// Messages that may go at once, under the server's default burst of 20.
const BURST: f64 = 16.0;

/// A token bucket.
pub struct Pacer {
    tokens: f64,
    last: Instant,
}

impl Pacer {
    pub fn new(now: Instant) -> Pacer {
        Pacer {
            tokens: BURST,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * RATE).min(BURST);
    }

    /// Takes one message's worth if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_goes_at_once_then_the_rate_applies() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        for _ in 0..16 {
            assert!(p.try_take(start));
        }
        assert!(!p.try_take(start));
        assert!(p.try_take(start + Duration::from_millis(130)));
        assert!(!p.try_take(start + Duration::from_millis(130)));
    }
}
