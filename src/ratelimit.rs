//! Per-connection message rate: a token bucket (rate per second, with a burst), and a
//! second bucket of "strikes" so that sustained abuse ends the connection.

use std::time::Instant;

struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    last: Instant,
}

impl Bucket {
    fn new(capacity: f64, per_sec: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: capacity,
            capacity,
            per_sec,
            last: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What to do with one incoming message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Over the rate: drop this message, tell the client, keep the connection.
    Drop,
    /// Over the rate for long enough: close the connection.
    Close,
}

pub struct RateLimit {
    messages: Bucket,
    strikes: Bucket,
}

impl RateLimit {
    /// `rate` messages per second with a `burst`. A client may overrun the rate by up
    /// to five bursts' worth of dropped messages (refilled at `rate`) before it is
    /// closed, so a client at twice the rate is throttled but never closed.
    pub fn new(rate: u32, burst: u32, now: Instant) -> RateLimit {
        let (rate, burst) = (f64::from(rate.max(1)), f64::from(burst.max(1)));
        RateLimit {
            messages: Bucket::new(burst, rate, now),
            strikes: Bucket::new(burst * 5.0, rate, now),
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        if self.messages.take(now) {
            Verdict::Accept
        } else if self.strikes.take(now) {
            Verdict::Drop
        } else {
            Verdict::Close
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_messages_drop_then_refill() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(10, 20, t0);
        assert!((0..20).all(|_| rl.check(t0) == Verdict::Accept));
        assert_eq!(rl.check(t0), Verdict::Drop);
        assert_eq!(rl.check(t0 + Duration::from_millis(100)), Verdict::Accept);
    }

    #[test]
    fn sustained_flooding_closes_but_double_rate_does_not() {
        let t0 = Instant::now();
        let mut flood = RateLimit::new(10, 20, t0);
        assert!((0..1000).any(|_| flood.check(t0) == Verdict::Close));

        let mut twice = RateLimit::new(10, 20, t0);
        for i in 0..2000u64 {
            assert_ne!(
                twice.check(t0 + Duration::from_millis(50 * i)),
                Verdict::Close
            );
        }
    }
}
