//! The only numbers the server shows about itself (on `/healthz`): counts, never
//! ids, aliases or addresses. Written by the broker and the acceptor, read by HTTP.

use std::sync::atomic::{AtomicIsize, Ordering};

#[derive(Default)]
pub struct Stats {
    connections: AtomicIsize,
    rooms: AtomicIsize,
    members: AtomicIsize,
}

impl Stats {
    pub fn add_connection(&self, delta: isize) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn add_room(&self, delta: isize) {
        self.rooms.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn add_member(&self, delta: isize) {
        self.members.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn connections(&self) -> isize {
        self.connections.load(Ordering::Relaxed)
    }

    /// `{"rooms":R,"members":M,"connections":C}`
    pub fn to_json(&self) -> String {
        format!(
            "{{\"rooms\":{},\"members\":{},\"connections\":{}}}",
            self.rooms.load(Ordering::Relaxed),
            self.members.load(Ordering::Relaxed),
            self.connections()
        )
    }
}
